"""The API's documentation pages, `/docs` (Swagger UI) and `/redoc` (ReDoc), served by the app
itself with their scripts and styles from the npm packages `scripts/bootstrap.sh` installs
(`package.json` at the repository root): no CDN, so they work offline and under a
Content-Security-Policy that lets the page run only this origin's script files.

Asset URLs carry the file's content digest (`/docs/assets/<digest>/<name>`), so browsers may
keep them for a year; a page always names the digests of the files installed now.
"""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse, HTMLResponse

from sichrplace.kit.errors import NotFound, ProblemError
from sichrplace.kit.i18n import N_
from sichrplace.platform.http.conditional import none_match

ASSETS_PATH = "/docs/assets"
JAVASCRIPT = "application/javascript; charset=utf-8"  # nginx's gzip_types names this type

# What the two pages need and nothing more: scripts only from files of this origin (no inline
# script, no eval); inline styles because Swagger UI and ReDoc (styled-components) write
# them; data: images for the icons in Swagger UI's CSS; ReDoc's search runs in a worker made
# from a blob: URL; the spec and "Try it out" requests go to this origin.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; worker-src blob:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True, slots=True)
class _Asset:
    path: str  # under the node_modules folder
    media_type: str


# The only files served from node_modules (never the folder as a whole).
_PACKAGE_ASSETS: dict[str, _Asset] = {
    "swagger-ui.css": _Asset("swagger-ui-dist/swagger-ui.css", "text/css; charset=utf-8"),
    "swagger-ui-bundle.js": _Asset("swagger-ui-dist/swagger-ui-bundle.js", JAVASCRIPT),
    "favicon-32x32.png": _Asset("swagger-ui-dist/favicon-32x32.png", "image/png"),
    "redoc.standalone.js": _Asset("redoc/bundles/redoc.standalone.js", JAVASCRIPT),
}
SWAGGER_INIT = "swagger-init.js"


def package_asset_paths() -> list[str]:
    """The files under node_modules that the pages serve (the container image copies only
    these, `sichrplace image build`)."""
    return [asset.path for asset in _PACKAGE_ASSETS.values()]


class DocsAssetsMissing(ProblemError):
    status, slug = 503, "docs-unavailable"


def swagger_init_script(openapi_url: str) -> bytes:
    """Swagger UI's start-up, as a file of ours (the page's CSP allows no inline script)."""
    config = {
        "url": openapi_url,
        "dom_id": "#swagger-ui",
        "layout": "BaseLayout",
        "deepLinking": True,
        "showExtensions": True,
        "showCommonExtensions": True,
        # Swagger UI would otherwise load a badge from validator.swagger.io.
        "validatorUrl": None,
    }
    # A block: `config` stays out of the page's global scope.
    return (
        "// Swagger UI for the SichrPlace API (served by platform/http/apidocs.py).\n"
        f"{{\nconst config = {json.dumps(config, indent=2)};\n"
        "config.presets = [\n"
        "  SwaggerUIBundle.presets.apis,\n"
        "  SwaggerUIBundle.SwaggerUIStandalonePreset,\n"
        "];\n"
        "window.ui = SwaggerUIBundle(config);\n}\n"
    ).encode()


class DocsAssets:
    """The asset files, their digests (recomputed when a file changes on disk: `npm ci` while
    the process runs) and the generated start-up script."""

    def __init__(self, node_modules: Path, openapi_url: str) -> None:
        self.node_modules = node_modules
        self.init_script = swagger_init_script(openapi_url)
        self._init_digest = _digest(self.init_script)
        self._digests: dict[str, tuple[tuple[int, int], str]] = {}

    def file(self, name: str) -> Path:
        return self.node_modules / _PACKAGE_ASSETS[name].path

    def missing(self) -> list[str]:
        return [
            a.path for a in _PACKAGE_ASSETS.values() if not (self.node_modules / a.path).is_file()
        ]

    def digest(self, name: str) -> str:
        if name == SWAGGER_INIT:
            return self._init_digest
        path = self.file(name)
        stat = path.stat()
        key = (stat.st_mtime_ns, stat.st_size)
        cached = self._digests.get(name)
        if cached is None or cached[0] != key:
            cached = (key, _digest(path.read_bytes()))
            self._digests[name] = cached
        return cached[1]

    def url(self, name: str) -> str:
        return f"{ASSETS_PATH}/{self.digest(name)}/{name}"

    def require(self) -> None:
        missing = self.missing()
        if missing:
            raise DocsAssetsMissing(
                N_(
                    "The API documentation's assets are not installed (run "
                    "scripts/bootstrap.sh, or set SICHRPLACE_APP_NODE_MODULES_DIR); "
                    "missing: {files}",
                    files=", ".join(missing),
                ),
                # The contract: every 503 says when to retry (an install takes seconds).
                headers={"Retry-After": "60"},
            )


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()[:16]


_PAGE_HEADERS: dict[str, str] = {
    "Content-Security-Policy": DOCS_CSP,
    # The page names the current digests: a browser asks again before reusing it.
    "Cache-Control": "no-cache",
}


def _page(title: str, head: str, body: str) -> HTMLResponse:
    document = (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n{head}</head>\n<body>\n"
        "<noscript>This page needs JavaScript.</noscript>\n"
        f"{body}</body>\n</html>\n"
    )
    return HTMLResponse(document, headers=_PAGE_HEADERS)


class _Pages:
    """The route handlers (sync: FastAPI runs them in its thread pool, so hashing a file after
    an install does not hold up the event loop)."""

    known: ClassVar[frozenset[str]] = frozenset({*_PACKAGE_ASSETS, SWAGGER_INIT})

    def __init__(self, assets: DocsAssets, title: str, openapi_url: str) -> None:
        self.assets = assets
        self.title = title
        self.openapi_url = openapi_url

    def swagger(self) -> HTMLResponse:
        a = self.assets
        a.require()
        head = (
            f'<link rel="stylesheet" href="{a.url("swagger-ui.css")}">\n'
            f'<link rel="icon" type="image/png" href="{a.url("favicon-32x32.png")}">\n'
        )
        body = (
            '<div id="swagger-ui"></div>\n'
            f'<script src="{a.url("swagger-ui-bundle.js")}"></script>\n'
            f'<script src="{a.url(SWAGGER_INIT)}"></script>\n'
        )
        return _page(f"{self.title}: Swagger UI", head, body)

    def redoc(self) -> HTMLResponse:
        a = self.assets
        a.require()
        head = f'<link rel="icon" type="image/png" href="{a.url("favicon-32x32.png")}">\n'
        # The standalone bundle starts itself on the <redoc spec-url> element.
        body = (
            f'<redoc spec-url="{html.escape(self.openapi_url)}"></redoc>\n'
            f'<script src="{a.url("redoc.standalone.js")}"></script>\n'
        )
        return _page(f"{self.title}: ReDoc", head, body)

    def asset(self, request: Request, digest: str, name: str) -> Response:
        if name not in self.known:
            raise NotFound(N_("No such documentation asset."))
        if name != SWAGGER_INIT:
            self.assets.require()
        current = self.assets.digest(name)
        # An older page (an instance not yet updated, a stale tab) gets today's file, which
        # must then not be kept under its old digest.
        headers = {
            "ETag": f'"{current}"',
            "Cache-Control": IMMUTABLE if digest == current else "no-cache",
        }
        if none_match(request.headers.get("if-none-match"), headers["ETag"]):
            return Response(status_code=304, headers=headers)
        if name == SWAGGER_INIT:
            return Response(self.assets.init_script, media_type=JAVASCRIPT, headers=headers)
        media_type = _PACKAGE_ASSETS[name].media_type
        return FileResponse(self.assets.file(name), media_type=media_type, headers=headers)


def install_docs(app: FastAPI, node_modules: Path) -> None:
    """Serve /docs and /redoc at the paths FastAPI's own pages had (create the app with
    `docs_url=None, redoc_url=None`), outside the OpenAPI document."""
    openapi_url = app.openapi_url or "/openapi.json"
    pages = _Pages(DocsAssets(node_modules, openapi_url), app.title, openapi_url)
    methods = ["GET", "HEAD"]
    app.add_api_route("/docs", pages.swagger, methods=methods, include_in_schema=False)
    app.add_api_route("/redoc", pages.redoc, methods=methods, include_in_schema=False)
    app.add_api_route(
        ASSETS_PATH + "/{digest}/{name}", pages.asset, methods=methods, include_in_schema=False
    )
