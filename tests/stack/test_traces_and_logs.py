"""Through nginx: the access log, the API's log and the stored trace of one request agree on
its request id and trace id; the trace has the SQL and Redis calls; secrets never reach logs."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from sichrplace.stack.layout import Layout
from sichrplace.stack.traces import SpanStore, StoredSpan
from tests.stack.conftest import access_log_entries

pytestmark = pytest.mark.stack

T = TypeVar("T")


def sampled_trace_id() -> str:
    """A trace id every sampling ratio above 0 keeps (its low 64 bits are tiny)."""
    return uuid.uuid4().hex[:16] + "0000000000000001"


def api_log_lines(layout: Layout, marker: str) -> list[dict[str, object]]:
    lines = []
    for path in sorted(layout.logs.glob("api-*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if marker in line and line.startswith("{"):
                lines.append(json.loads(line))
    return lines


async def wait_for(probe: Callable[[], T], seconds: float = 15.0) -> T:
    deadline = time.monotonic() + seconds
    while True:
        found = probe()
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.3)


def store(layout: Layout) -> SpanStore:
    return SpanStore(layout.root / "traces" / "spans.sqlite")


def spans_of_trace(layout: Layout, trace_id: str) -> list[StoredSpan]:
    return store(layout).spans_of(trace_id)


async def test_one_request_one_id_in_nginx_api_logs_and_trace(
    stack_url: str, layout: Layout
) -> None:
    trace_id = sampled_trace_id()
    async with httpx.AsyncClient(base_url=stack_url, timeout=5) as nginx:
        r = await nginx.get(
            f"/api/v1/listings/{uuid.uuid4()}",  # a cache miss: Redis, then SQL
            headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"},
        )
    assert r.status_code == 404
    request_id = r.headers["x-request-id"]

    entries = await wait_for(lambda: access_log_entries(layout, request_id))
    assert entries, "no nginx access line"
    assert entries[0]["trace_id"] == trace_id

    lines = await wait_for(
        lambda: [x for x in api_log_lines(layout, request_id) if x["event"] == "request"]
    )
    assert lines, "no API access line"
    api_line = lines[0]
    assert api_line["request_id"] == request_id
    assert api_line["trace_id"] == trace_id
    assert api_line["route"] == "/api/v1/listings/{listing_id}"
    assert api_line["status"] == 404
    assert api_line["duration_ms"] > 0
    assert api_line["level"] == "info"
    assert "timestamp" in api_line
    assert "span_id" in api_line

    def complete() -> list[StoredSpan]:
        spans = spans_of_trace(layout, trace_id)
        names = " ".join(s.name for s in spans)
        return spans if "SELECT" in names and "EVALSHA" in names else []

    spans = await wait_for(complete)  # the API exports in batches, every few seconds
    assert spans, f"trace incomplete: {[s.name for s in spans_of_trace(layout, trace_id)]}"
    assert store(layout).trace_ids_for(request_id) == [trace_id]
    cli = str(Path(sys.executable).parent / "sichrplace")
    shown = (
        await asyncio.to_thread(
            subprocess.run,
            [cli, "traces", "show", request_id, "--store", str(store(layout).path)],
            capture_output=True,
            text=True,
            check=True,
        )
    ).stdout
    assert f"trace {trace_id}" in shown
    assert "GET /api/v1/listings/{listing_id}" in shown
    assert "    listing.detail" in shown  # indented under the server span


async def test_without_traceparent_nginx_request_id_is_the_trace_id(
    stack_url: str, layout: Layout
) -> None:
    async with httpx.AsyncClient(base_url=stack_url, timeout=5) as nginx:
        # A query of its own: the edge holds no copy of it, the API answers.
        r = await nginx.get(
            "/api/v1/search/listings", params={"city": f"Nirgendwo{uuid.uuid4().hex}"}
        )
    assert r.status_code == 200
    request_id = r.headers["x-request-id"]
    entries = await wait_for(lambda: access_log_entries(layout, request_id))
    assert entries
    assert entries[0]["trace_id"] == request_id
    lines = await wait_for(lambda: api_log_lines(layout, request_id))
    assert lines
    assert lines[0]["trace_id"] == request_id


async def test_secrets_of_real_requests_never_reach_the_logs(
    stack_url: str, layout: Layout, unique: str
) -> None:
    password = f"Pw-{unique}-Geheim!"
    email = f"redact-{unique}@example.com"
    iban = "DE89370400440532013000"
    card = "4111111111111111"
    async with httpx.AsyncClient(base_url=stack_url, timeout=10) as nginx:
        register = await nginx.post(
            "/api/v1/auth/register",
            json={
                "email": email,
                "password": password,
                "full_name": "Redact Test",
                "role": "tenant",
            },
        )
        assert register.status_code in (201, 202), register.text
        login = await nginx.post("/api/v1/auth/login", json={"email": email, "password": password})
        token = login.json().get("access_token", f"eyJ{unique}.eyJ{unique}.sig")
        bad_login = await nginx.post(
            "/api/v1/auth/login", json={"email": email, "password": password + "x"}
        )
        assert bad_login.status_code == 401
        me = await nginx.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        await nginx.post(
            "/api/v1/auth/register",
            json={"email": email, "password": password, "iban": iban, "card": card},
            headers={"Authorization": f"Bearer {token}"},
        )
        request_ids = [r.headers["x-request-id"] for r in (register, login, bad_login, me)]
    # Every request was logged (so the logs were written), and the secrets are in none.
    for request_id in request_ids:
        assert await wait_for(lambda rid=request_id: api_log_lines(layout, rid))
    await asyncio.sleep(1.5)  # the worker's mail job for the registration
    logs = "".join(
        p.read_text(errors="replace")
        for pattern in ("api-*.log", "worker-*.log")
        for p in layout.logs.glob(pattern)
    )
    for secret in (password, email, iban, card, token):
        assert secret not in logs, f"{secret[:8]}... in the logs"
