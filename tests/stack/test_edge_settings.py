"""The entry point's settings live: CORS for configured origins, HSTS behind a trusted TLS
proxy, and the API's own CSP passed through. A throwaway nginx runs the stack's rendered
config (its own prefix and port) in front of a small upstream that echoes what it got."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from sichrplace.bench.static import free_port
from sichrplace.config import EdgeSettings, Settings
from sichrplace.stack.layout import Layout
from sichrplace.stack.render import write_nginx_conf
from tests.stack.test_entry_point import assert_security_headers

ALLOWED = "https://app.sichrplace.de"
OTHER = "https://evil.example"
UPSTREAM_CSP = "default-src 'self'; img-src 'self' data:"
HSTS = "max-age=63072000; includeSubDomains"


class _Echo(BaseHTTPRequestHandler):
    """Answers every request with the headers it received; /csp with a CSP of its own, and
    OPTIONS with 405 as the API does."""

    def _answer(self) -> None:
        body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
        self.send_response(405 if self.command == "OPTIONS" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if self.path == "/csp":
            self.send_header("Content-Security-Policy", UPSTREAM_CSP)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_OPTIONS = _answer

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def _upstream() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _wait_for(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert proc.poll() is None, "nginx exited"
        with contextlib.suppress(httpx.TransportError):
            httpx.get(url, timeout=0.5)
            return
        time.sleep(0.05)
    raise AssertionError("nginx did not start listening")


@pytest.fixture(scope="module")
def edge_url(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    configured = copy.copy(settings)
    # The edge cache where nginx's unprivileged workers can reach it (pytest's own temporary
    # folders are private to root).
    cache = Path(tempfile.mkdtemp(prefix="sichrplace-edge-test-"))
    cache.chmod(0o755)
    configured.edge = EdgeSettings(
        cors_allow_origins=[ALLOWED], trusted_tls_proxies=["127.0.0.1"], cache_dir=cache / "edge"
    )
    port = free_port()
    configured.stack = settings.stack.model_copy(update={"nginx_port": port})
    layout = Layout(tmp_path_factory.mktemp("edge"))
    for path in (layout.conf, layout.logs, layout.media, layout.run, layout.nginx / "tmp"):
        path.mkdir(parents=True)
    for folder in (layout.root, layout.nginx, layout.nginx / "tmp", layout.logs):
        # nginx started as root writes its temp files from unprivileged workers.
        os.chmod(folder, 0o1777)  # noqa: S103 - a throwaway folder of a test
    with _upstream() as upstream_port:
        write_nginx_conf(configured, layout, [upstream_port])
        conf = layout.conf / "nginx.conf"
        proc = subprocess.Popen(
            ["/usr/sbin/nginx", "-p", str(layout.nginx), "-c", str(conf), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_for(url, proc)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            shutil.rmtree(cache, ignore_errors=True)


def _cors(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


def test_an_allowed_origin_is_echoed_with_the_exposed_headers(edge_url: str) -> None:
    response = httpx.get(f"{edge_url}/api/v1/search/listings", headers={"Origin": ALLOWED})
    assert response.status_code == 200
    assert _cors(response) == {
        "access-control-allow-origin": ALLOWED,
        "access-control-expose-headers": "ETag, Location, Retry-After, WWW-Authenticate, "
        "X-Request-ID",
    }
    assert "Origin" in response.headers.get_list("vary")
    assert_security_headers(response)


def test_another_origin_gets_no_cors_header(edge_url: str) -> None:
    response = httpx.get(f"{edge_url}/api/v1/search/listings", headers={"Origin": OTHER})
    assert response.status_code == 200
    assert _cors(response) == {}
    assert "Origin" in response.headers.get_list("vary")  # a shared cache keeps the two apart


def test_a_preflight_from_an_allowed_origin_is_answered_by_nginx(edge_url: str) -> None:
    headers = {
        "Origin": ALLOWED,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    response = httpx.options(f"{edge_url}/api/v1/listings", headers=headers)
    assert response.status_code == 204
    cors = _cors(response)
    assert cors["access-control-allow-origin"] == ALLOWED
    assert "POST" in cors["access-control-allow-methods"]
    allowed_headers = cors["access-control-allow-headers"]
    for name in ("Authorization", "Content-Type", "If-None-Match", "X-Device-Token"):
        assert name in allowed_headers
    assert cors["access-control-max-age"] == "600"
    assert "access-control-allow-credentials" not in cors
    assert_security_headers(response)


def test_a_preflight_from_another_origin_gets_no_allow_headers(edge_url: str) -> None:
    headers = {"Origin": OTHER, "Access-Control-Request-Method": "POST"}
    response = httpx.options(f"{edge_url}/api/v1/listings", headers=headers)
    assert response.status_code == 405  # passed on to the API, which allows no OPTIONS
    assert _cors(response) == {}


def test_a_plain_options_from_an_allowed_origin_reaches_the_api(edge_url: str) -> None:
    response = httpx.options(f"{edge_url}/api/v1/listings", headers={"Origin": ALLOWED})
    assert response.status_code == 405  # not a preflight: no Access-Control-Request-Method
    assert "access-control-allow-methods" not in response.headers


def test_nginx_own_errors_carry_cors_and_security_headers(edge_url: str) -> None:
    trace = httpx.request("TRACE", f"{edge_url}/api/v1/version", headers={"Origin": ALLOWED})
    missing = httpx.get(f"{edge_url}/metrics", headers={"Origin": ALLOWED})
    for response, status in ((trace, 405), (missing, 404)):
        assert response.status_code == status
        assert response.headers["access-control-allow-origin"] == ALLOWED
        assert_security_headers(response)


def test_hsts_and_https_only_from_a_trusted_tls_proxy(edge_url: str) -> None:
    """127.0.0.1 is the trusted proxy here; the stack itself trusts none (test_entry_point)."""
    over_tls = httpx.get(f"{edge_url}/echo", headers={"X-Forwarded-Proto": "https"})
    plain = httpx.get(f"{edge_url}/echo")
    assert over_tls.headers.get_list("strict-transport-security") == [HSTS]
    assert over_tls.json()["x-forwarded-proto"] == "https"  # what the API is told
    assert "strict-transport-security" not in plain.headers
    assert plain.json()["x-forwarded-proto"] == "http"


def test_the_apis_own_csp_passes_through_alone(edge_url: str) -> None:
    response = httpx.get(f"{edge_url}/csp")
    assert response.headers.get_list("content-security-policy") == [UPSTREAM_CSP]
    assert response.headers["x-content-type-options"] == "nosniff"
