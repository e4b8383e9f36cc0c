"""Admission: a process runs at most N requests at once, the others wait their turn in arrival
order (a wait that is too long is a 503 problem+json with Retry-After), and health and
metrics never wait."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from sichrplace.app import create_app
from sichrplace.config import Settings
from sichrplace.platform.bulkhead import Bulkhead
from sichrplace.platform.http.middleware import AdmissionMiddleware


class Held:
    """An ASGI app whose requests run until released, recording which ran when."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started: list[str] = []
        self.running = 0
        self.peak = 0
        self.progress = asyncio.Event()  # set whenever a request starts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.started.append(scope["path"])
        self.progress.set()
        if scope["path"] != "/healthz":
            self.running += 1
            self.peak = max(self.peak, self.running)
            try:
                await self.release.wait()
            finally:
                self.running -= 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def _client(held: Held, limit: int, max_wait: float = 5.0) -> httpx.AsyncClient:
    app = AdmissionMiddleware(
        held,
        bulkhead=Bulkhead("requests-test", limit=limit, max_wait_seconds=max_wait),
        exempt=("/healthz",),
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def _until(held: Held, condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not condition():
            held.progress.clear()
            await held.progress.wait()


async def test_at_most_limit_run_and_the_rest_start_in_arrival_order() -> None:
    held = Held()
    async with _client(held, limit=2) as client:
        tasks = []
        for n in range(6):
            tasks.append(asyncio.create_task(client.get(f"/r{n}")))
            await asyncio.sleep(0.01)  # a known arrival order
        await _until(held, lambda: len(held.started) == 2)
        await asyncio.sleep(0.05)
        assert held.started == ["/r0", "/r1"]  # the other four wait

        health = await client.get("/healthz")  # exempt: answered while the gate is full
        assert health.status_code == 200

        held.release.set()
        responses = await asyncio.gather(*tasks)
    assert [r.status_code for r in responses] == [200] * 6
    assert held.peak == 2
    assert [p for p in held.started if p != "/healthz"] == [f"/r{n}" for n in range(6)]


async def test_a_wait_longer_than_allowed_is_503_problem_json() -> None:
    held = Held()
    async with _client(held, limit=1, max_wait=0.1) as client:
        first = asyncio.create_task(client.get("/slow"))
        await _until(held, lambda: held.running == 1)
        refused = await client.get("/late")
        held.release.set()
        assert (await first).status_code == 200
    assert refused.status_code == 503
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.headers["retry-after"] == "2"
    assert refused.json()["status"] == 503
    assert held.started == ["/slow"]  # the refused one never ran


def test_the_app_admits_as_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    def admission(limit: int) -> list[int]:
        monkeypatch.setenv("SICHRPLACE_APP_MAX_ACTIVE_REQUESTS", str(limit))
        app = create_app(Settings())
        return [
            m.kwargs["bulkhead"].limit for m in app.user_middleware if m.cls is AdmissionMiddleware
        ]

    assert admission(3) == [3]
    assert admission(0) == []  # no limit
