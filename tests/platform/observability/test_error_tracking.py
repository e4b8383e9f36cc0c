"""An unhandled error reaches Sentry (a local envelope endpoint) with release, environment,
the trace id, and no secrets."""

from __future__ import annotations

import gzip
import json
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from sichrplace import __version__
from sichrplace.app import create_app
from sichrplace.config import SentrySettings, Settings
from sichrplace.platform.observability import errors

PASSWORD = "Sentry-Secret-Pw-123!"
EMAIL = "erika.mustermann@example.com"
IBAN = "DE89370400440532013000"
CARD = "4111 1111 1111 1111"
TOKEN = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlcw"


class Envelopes:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.paths: list[str] = []
        self.arrived = threading.Event()


def _decode(body: bytes, encoding: str | None) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding == "br":
        import brotli  # type: ignore[import-not-found]  # only when sentry-sdk found it

        return bytes(brotli.decompress(body))
    return body


@pytest.fixture
def envelope_server() -> Iterator[tuple[str, Envelopes]]:
    received = Envelopes()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            received.paths.append(self.path)
            received.bodies.append(_decode(body, self.headers.get("content-encoding")))
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"{}")
            received.arrived.set()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://public@127.0.0.1:{server.server_address[1]}/42", received
    finally:
        server.shutdown()
        errors.shutdown()


def _events(envelopes: Envelopes) -> list[dict[str, Any]]:
    events = []
    for body in envelopes.bodies:
        lines = body.split(b"\n")
        for header, payload in zip(lines[1::2], lines[2::2], strict=False):
            if json.loads(header).get("type") == "event":
                events.append(json.loads(payload))
    return events


@pytest.mark.usefixtures("settings")  # installs the tracer provider: events carry trace ids
async def test_an_unhandled_error_reaches_sentry_scrubbed(
    envelope_server: tuple[str, Envelopes],
) -> None:
    dsn, received = envelope_server
    settings = Settings()
    settings.app = settings.app.model_copy(update={"git_sha": "abc123def456"})
    settings.sentry = SentrySettings(dsn=dsn, environment="staging-test")
    app = create_app(settings)

    async def boom(body: dict[str, Any]) -> None:
        password = body["password"]  # a local variable Sentry would show
        raise RuntimeError(f"payment for {EMAIL} from {IBAN} card {CARD} ({len(password)})")

    app.add_api_route("/boom", boom, methods=["POST"])
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        r = await client.post(
            "/boom",
            json={"password": PASSWORD, "email": EMAIL},
            headers={"Authorization": f"Bearer {TOKEN}", "X-Request-ID": "sentry-test-1"},
        )
    assert r.status_code == 500
    errors.flush()
    assert received.arrived.wait(10), "no envelope arrived"
    assert received.paths[0] == "/api/42/envelope/"
    events = _events(received)
    assert len(events) == 1
    event = events[0]
    assert event["release"] == f"sichrplace@{__version__}+abc123def456"
    assert event["environment"] == "staging-test"
    assert event["tags"]["request_id"] == "sentry-test-1"
    assert len(event["contexts"]["trace"]["trace_id"]) == 32
    assert event["tags"]["trace_id"] == event["contexts"]["trace"]["trace_id"]
    text = json.dumps(event)
    assert "RuntimeError" in text
    for secret in (PASSWORD, EMAIL, IBAN, CARD, TOKEN):
        at = text.find(secret)
        assert at < 0, text[max(0, at - 300) : at + 60]
