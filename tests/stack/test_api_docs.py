"""The API docs pages (/docs, /redoc) work offline: through nginx, every script, style and image
they load comes from this origin (the npm packages bootstrap installs), under a CSP without
inline scripts; with Debian's chromium installed, they also render with the network cut."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

PAGES = ["/docs", "/redoc"]


class _Page(HTMLParser):
    """The URLs a page loads (scripts, stylesheets and icons, images) and its inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts: list[str] = []
        self.spec_urls: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        url = {"script": attr.get("src"), "link": attr.get("href"), "img": attr.get("src")}
        if url.get(tag):
            self.urls.append(str(url[tag]))
        if tag == "redoc" and attr.get("spec-url"):
            self.spec_urls.append(str(attr["spec-url"]))
        self._in_script = tag == "script" and not attr.get("src")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts.append(data)


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


def _local(url: str) -> bool:
    parts = urlsplit(url)
    return not parts.scheme and not parts.netloc and not url.startswith("//")


def _csp(header: str) -> dict[str, list[str]]:
    directives = (d.split() for d in header.split(";") if d.strip())
    return {d[0]: d[1:] for d in directives}


_TYPES = {".js": "application/javascript", ".css": "text/css", ".png": "image/png"}


@pytest.mark.parametrize("path", PAGES)
async def test_the_page_loads_only_local_assets(stack_url: str, path: str) -> None:
    async with httpx.AsyncClient(base_url=stack_url, timeout=10) as client:
        response = await client.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        page = _parse(response.text)
        assert page.urls
        assert [u for u in page.urls if not _local(u)] == []
        for url in page.urls:
            asset = await client.get(url, headers={"Accept-Encoding": "identity"})
            assert asset.status_code == 200, url
            expected = _TYPES[Path(urlsplit(url).path).suffix]
            assert asset.headers["content-type"].startswith(expected), url
            assert len(asset.content) > 300, url
            assert "immutable" in asset.headers["cache-control"]
            again = await client.get(url, headers={"If-None-Match": asset.headers["etag"]})
            assert again.status_code == 304, url


@pytest.mark.parametrize("path", PAGES)
async def test_the_page_has_its_own_csp_without_inline_scripts(stack_url: str, path: str) -> None:
    async with httpx.AsyncClient(base_url=stack_url, timeout=10) as client:
        response = await client.get(path)
    csp = _csp(response.headers["content-security-policy"])
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval', no host
    assert csp["frame-ancestors"] == ["'none'"]
    assert _parse(response.text).inline_scripts == []


async def _openapi_answers(client: httpx.AsyncClient, url: str) -> None:
    assert _local(url)
    response = await client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["openapi"].startswith("3.")


async def test_swagger_ui_starts_on_the_served_openapi_document(stack_url: str) -> None:
    async with httpx.AsyncClient(base_url=stack_url, timeout=10) as client:
        page = _parse((await client.get("/docs")).text)
        [init] = [u for u in page.urls if u.endswith("/swagger-init.js")]
        script = (await client.get(init)).text
        match = re.search(r'"url": ("[^"]*")', script)
        assert match, script
        await _openapi_answers(client, json.loads(match.group(1)))
        assert "SwaggerUIBundle(" in script
        assert '"validatorUrl": null' in script  # else a badge from validator.swagger.io


async def test_redoc_reads_the_served_openapi_document(stack_url: str) -> None:
    async with httpx.AsyncClient(base_url=stack_url, timeout=10) as client:
        page = _parse((await client.get("/redoc")).text)
        [spec_url] = page.spec_urls
        await _openapi_answers(client, spec_url)


async def test_the_big_bundles_are_compressed_by_nginx(stack_url: str) -> None:
    async with httpx.AsyncClient(base_url=stack_url, timeout=10) as client:
        page = _parse((await client.get("/docs")).text)
        [bundle] = [u for u in page.urls if u.endswith("/swagger-ui-bundle.js")]
        packed = await client.get(bundle, headers={"Accept-Encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.num_bytes_downloaded < len(packed.content) / 2


async def test_the_docs_routes_are_not_in_the_openapi_document(stack_url: str) -> None:
    async with httpx.AsyncClient(base_url=stack_url, timeout=10) as client:
        paths = (await client.get("/openapi.json")).json()["paths"]
    assert [p for p in paths if p.startswith(("/docs", "/redoc"))] == []


# Rendered DOM of each page once its scripts ran: Swagger UI's operation paths, ReDoc's title.
_RENDERED = {"/docs": 'data-path="/api/v1/search/listings"', "/redoc": "SichrPlace API"}
# ReDoc's footer shows Redocly's logo from their CDN (no option turns it off): the CSP blocks
# it and ReDoc hides the image. Anything else blocked would be a page that is not offline.
_KNOWN_BLOCKED = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.mark.parametrize("path", PAGES)
def test_the_page_renders_in_chromium_with_the_network_cut(stack_url: str, path: str) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",  # root in a container; the page is our own
                "--disable-gpu",
                f"--user-data-dir={profile}",
                # Every host but this machine unresolvable: the network is cut.
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--enable-logging=stderr",
                "--v=0",
                "--virtual-time-budget=10000",
                "--dump-dom",
                stack_url + path,
            ],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _RENDERED[path] in proc.stdout
    blocked = [
        line
        for line in proc.stderr.splitlines()
        if "Content Security Policy" in line and _KNOWN_BLOCKED not in line
    ]
    assert blocked == []
