"""The public entry point (nginx) hides the internal endpoints; the instances still serve them."""

from __future__ import annotations

import uuid

import httpx
import pytest

from sichrplace.config import Settings
from sichrplace.stack.layout import Layout
from tests.stack.conftest import ctl, wait_nginx_uses_every_instance

PROBLEM_JSON = "application/problem+json"
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
}


def assert_security_headers(response: httpx.Response) -> None:
    """nginx's headers, once each (none the API already sends), and no HSTS over plain http."""
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get_list(name) == [value], name
    assert "strict-transport-security" not in response.headers


@pytest.mark.parametrize("path", ["/metrics", "/api/v1/admin/users", "/api/v1/admin/"])
async def test_internal_endpoints_are_not_found_through_nginx(stack_url: str, path: str) -> None:
    async with httpx.AsyncClient(base_url=stack_url, timeout=10) as client:
        response = await client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    assert body["type"] == "https://sichrplace.de/problems/not-found"
    assert body["status"] == 404
    assert body["title"] == "Nicht gefunden"  # nginx's own answer, German by default
    assert body["detail"]
    assert response.headers["content-language"] == "de"
    assert_security_headers(response)


@pytest.mark.parametrize(
    ("accept_language", "language", "title"),
    [
        (None, "de", "Nicht gefunden"),
        ("en-GB,en;q=0.9", "en", "Not Found"),
        ("fr-FR, en;q=0.8, de;q=0.5", "en", "Not Found"),
        ("de-AT, en;q=0.8", "de", "Nicht gefunden"),
        ("fr", "de", "Nicht gefunden"),
    ],
)
async def test_nginx_answers_its_own_errors_in_the_callers_language(
    stack_url: str, accept_language: str | None, language: str, title: str
) -> None:
    headers = {"Accept-Language": accept_language} if accept_language else {}
    async with httpx.AsyncClient(base_url=stack_url, timeout=10) as client:
        missing = await client.get("/metrics", headers=headers)
        too_long = await client.get("/api/v1/search/listings?q=" + "x" * 9000, headers=headers)
        trace = await client.request("TRACE", "/healthz", headers=headers)
    assert missing.json()["title"] == title
    for response, status in ((missing, 404), (trace, 405)):
        assert response.status_code == status
        assert response.headers["content-language"] == language
        assert response.json()["status"] == status
    # A request line nginx could not read has no headers it could read: German.
    assert too_long.status_code == 414
    assert too_long.headers["content-language"] == "de"
    assert too_long.json()["title"] == "URI zu lang"


async def test_metrics_stay_on_the_instances_own_port(settings: Settings) -> None:
    port = settings.stack.api_base_port
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"http://127.0.0.1:{port}/metrics")
    assert response.status_code == 200


async def test_a_body_above_nginx_limit_is_413_problem_json(stack_url: str) -> None:
    async with httpx.AsyncClient(base_url=stack_url, timeout=30) as client:
        response = await client.post("/api/v1/auth/login", content=b"0" * (12 * 1024 * 1024))
    assert response.status_code == 413
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert response.json()["type"] == "https://sichrplace.de/problems/payload-too-large"
    assert_security_headers(response)


async def test_json_is_compressed_for_clients_that_ask(stack_url: str) -> None:
    path = "/api/v1/search/listings?limit=100"
    async with httpx.AsyncClient(base_url=stack_url, timeout=10) as client:
        plain = await client.get(path, headers={"Accept-Encoding": "identity"})
        packed = await client.get(path, headers={"Accept-Encoding": "gzip"})
    assert plain.status_code == packed.status_code == 200
    assert "content-encoding" not in plain.headers
    if len(plain.content) < 1024:
        pytest.skip("too few listings for a page above nginx's gzip_min_length")
    assert packed.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["vary"]
    assert packed.json() == plain.json()  # httpx decodes the gzip body
    assert packed.num_bytes_downloaded < len(plain.content) / 3  # bytes on the wire


async def test_json_is_brotli_compressed_for_clients_that_accept_it(stack_url: str) -> None:
    path = "/api/v1/search/listings?limit=100"
    async with httpx.AsyncClient(base_url=stack_url, timeout=10) as client:
        plain = await client.get(path, headers={"Accept-Encoding": "identity"})
        packed = await client.get(path, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert plain.status_code == packed.status_code == 200
    if len(plain.content) < 1024:
        pytest.skip("too few listings for a page above nginx's brotli_min_length")
    assert packed.headers["content-encoding"] == "br"
    assert "Accept-Encoding" in packed.headers["vary"]
    assert packed.json() == plain.json()  # httpx decodes br with the brotli package
    assert packed.num_bytes_downloaded < len(plain.content) / 3


async def test_security_headers_on_the_apis_answers(stack_url: str) -> None:
    async with httpx.AsyncClient(base_url=stack_url, timeout=10) as client:
        ok = await client.get("/api/v1/search/listings")
        missing = await client.get("/api/v1/listings/00000000-0000-0000-0000-000000000000")
    assert ok.status_code == 200
    assert_security_headers(ok)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith(PROBLEM_JSON)
    assert_security_headers(missing)


async def test_no_hsts_and_no_cors_by_default(stack_url: str) -> None:
    """The test stack trusts no TLS proxy and allows no origin (the settings' defaults)."""
    headers = {"X-Forwarded-Proto": "https", "Origin": "https://app.example.de"}
    async with httpx.AsyncClient(base_url=stack_url, timeout=10) as client:
        response = await client.get("/api/v1/search/listings", headers=headers)
        preflight = await client.options(
            "/api/v1/search/listings",
            headers={**headers, "Access-Control-Request-Method": "GET"},
        )
    assert response.status_code == 200
    assert "strict-transport-security" not in response.headers
    assert not [k for k in response.headers if k.startswith("access-control-")]
    assert "Origin" not in response.headers.get("vary", "")
    assert preflight.status_code == 405  # the API's answer: nginx answers no preflight
    assert not [k for k in preflight.headers if k.startswith("access-control-")]


async def test_no_api_instance_is_503_problem_json(stack_url: str, layout: Layout) -> None:
    try:
        ctl(layout, "stop", "api-1", "api-2")
        async with httpx.AsyncClient(base_url=stack_url, timeout=10) as client:
            # A query the edge holds no copy of (it would serve that, stale if need be).
            fresh = {"city": f"Nirgendwo{uuid.uuid4().hex}"}
            response = await client.get("/api/v1/search/listings", params=fresh)
    finally:
        # Restore the stack even when the assertions below would fail, and leave it serving:
        # the next tests expect both instances behind nginx.
        ctl(layout, "start", "api-1", "api-2")
        await wait_nginx_uses_every_instance(stack_url, layout)
    assert response.status_code == 503
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert response.headers["retry-after"] == "5"
    body = response.json()
    assert body["type"] == "https://sichrplace.de/problems/service-unavailable"
    assert body["status"] == 503
    assert_security_headers(response)


@pytest.mark.parametrize(
    ("method", "path", "status", "slug"),
    [
        ("GET", "/media/no-such-file.webp", 404, "not-found"),
        ("TRACE", "/api/v1/version", 405, "method-not-allowed"),
        ("FOO", "/api/v1/version", 405, "method-not-allowed"),
        ("GET", "/api/v1/search/listings?q=" + "a" * 9000, 414, "uri-too-long"),
    ],
)
async def test_nginx_own_errors_are_problem_json(
    stack_url: str, method: str, path: str, status: int, slug: str
) -> None:
    async with httpx.AsyncClient(base_url=stack_url, timeout=10) as client:
        response = await client.request(method, path)
    assert response.status_code == status
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    assert body["type"] == f"https://sichrplace.de/problems/{slug}"
    assert body["status"] == status
    if status == 405:
        assert "GET" in response.headers["allow"]
    assert_security_headers(response)
