"""The docs pages and their assets, in-process over a stand-in node_modules folder: digests in
the URLs follow the files, a stale digest is not cached for long, and missing assets are a
clear 503 problem while the app still starts. (Through nginx with the real packages:
tests/stack/test_api_docs.py.)"""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import pytest

from sichrplace.app import create_app
from sichrplace.config import Settings
from sichrplace.platform.http.apidocs import DOCS_CSP

FILES = {
    "swagger-ui-dist/swagger-ui.css": "body { margin: 0 }",
    "swagger-ui-dist/swagger-ui-bundle.js": "var SwaggerUIBundle = 1;",
    "swagger-ui-dist/favicon-32x32.png": "png",
    "redoc/bundles/redoc.standalone.js": "var Redoc = 1;",
}


def _node_modules(root: Path) -> Path:
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def _client(monkeypatch: pytest.MonkeyPatch, node_modules: Path) -> httpx.AsyncClient:
    monkeypatch.setenv("SICHRPLACE_APP_NODE_MODULES_DIR", str(node_modules))
    app = create_app(Settings())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def _url(html: str, name: str) -> str:
    match = re.search(rf'"(/docs/assets/[0-9a-f]+/{re.escape(name)})"', html)
    assert match, html
    return match.group(1)


async def test_pages_name_assets_by_digest_and_carry_their_csp(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    async with _client(monkeypatch, _node_modules(tmp_path)) as client:
        docs = await client.get("/docs")
        redoc = await client.get("/redoc")
        bundle = await client.get(_url(docs.text, "swagger-ui-bundle.js"))
    for page in (docs, redoc):
        assert page.status_code == 200
        assert page.headers["content-security-policy"] == DOCS_CSP
        assert page.headers["cache-control"] == "no-cache"
    assert bundle.text == FILES["swagger-ui-dist/swagger-ui-bundle.js"]
    assert bundle.headers["content-type"].startswith("application/javascript")
    assert bundle.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert '<redoc spec-url="/openapi.json">' in redoc.text


async def test_a_changed_file_gets_a_new_url_and_the_old_one_is_not_kept(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    node_modules = _node_modules(tmp_path)
    async with _client(monkeypatch, node_modules) as client:
        before = _url((await client.get("/redoc")).text, "redoc.standalone.js")
        bundle = node_modules / "redoc/bundles/redoc.standalone.js"
        bundle.write_text("var Redoc = 2;")  # npm ci while the process runs
        stat = bundle.stat()
        os.utime(bundle, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
        after = _url((await client.get("/redoc")).text, "redoc.standalone.js")
        stale = await client.get(before)
    assert after != before
    assert stale.status_code == 200
    assert stale.text == "var Redoc = 2;"
    assert stale.headers["cache-control"] == "no-cache"


async def test_conditional_requests_head_and_unknown_names(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    async with _client(monkeypatch, _node_modules(tmp_path)) as client:
        css = _url((await client.get("/docs")).text, "swagger-ui.css")
        first = await client.get(css)
        again = await client.get(css, headers={"If-None-Match": f"W/{first.headers['etag']}"})
        head = await client.head(css)
        unknown = await client.get(css.rsplit("/", 1)[0] + "/package.json")
    assert first.headers["content-type"] == "text/css; charset=utf-8"
    assert again.status_code == 304
    assert head.status_code == 200
    assert head.content == b""
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/docs/assets/0/swagger-ui-bundle.js"])
async def test_missing_assets_are_a_503_problem_not_a_blank_page(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, path: str
) -> None:
    async with _client(monkeypatch, tmp_path / "nowhere") as client:
        response = await client.get(path)
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["retry-after"]
    body = response.json()
    assert body["type"] == "https://sichrplace.de/problems/docs-unavailable"
    assert "scripts/bootstrap.sh" in body["detail"]
    assert "swagger-ui-dist/swagger-ui-bundle.js" in body["detail"]
