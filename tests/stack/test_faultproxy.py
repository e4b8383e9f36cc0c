"""The fault proxy (stack/faultproxy.py) against the stack's real Redis and PgBouncer: pass is
transparent, latency is measurable, a stall holds and a clear releases it, a reset raises on
the client, refuse refuses; arming and disarming keep the APIs serving through nginx.

The mode tests run a proxy in the test's own event loop on ports of their own; the arm/disarm
test drives the stack's `faultproxy` program.
"""

from __future__ import annotations

import asyncio
import copy
import os
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psycopg
import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from sichrplace.config import Settings
from sichrplace.stack import faultproxy
from sichrplace.stack.faults import control, placement
from sichrplace.stack.layout import Layout
from tests.stack.conftest import get_as_a_browser_does, program_pid

pytestmark = pytest.mark.stack

# Ports of the in-test proxy: clear of the stack's own (and of CI's shifted ones).
# Below the kernel's ephemeral range (32768-60999 here): no client connection's local end can
# hold these ports, as one did at 56962 in a CI run.
TEST_BASE_PORT = 31760


class Proxy:
    """A proxy in this event loop, driven through its control port like the real one."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ports = faultproxy.FaultProxyPorts(settings.stack.faultproxy_base_port)
        self.http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.ports.control}", timeout=10)

    async def set(self, path: str, mode: str, **params: float) -> dict[str, object]:
        resp = await self.http.post(f"/paths/{path}", json={"mode": mode, **params})
        assert resp.status_code == 200, resp.text
        state: dict[str, object] = resp.json()[path]
        return state

    async def state(self, path: str) -> dict[str, object]:
        result: dict[str, object] = (await self.http.get("/paths")).json()[path]
        return result

    def redis(self) -> aioredis.Redis:
        return aioredis.Redis(host="127.0.0.1", port=self.ports.redis, socket_timeout=5)

    async def pg(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        db = self.settings.db
        return await psycopg.AsyncConnection.connect(
            f"host=127.0.0.1 port={self.ports.pgbouncer} dbname={db.name} user={db.user}"
            f" password={db.password.get_secret_value()}",
            prepare_threshold=None,
            autocommit=True,
            connect_timeout=5,
        )


@pytest.fixture
async def proxy(settings: Settings) -> AsyncIterator[Proxy]:
    own = copy.copy(settings)
    own.stack = settings.stack.model_copy(update={"faultproxy_base_port": TEST_BASE_PORT})
    stop = asyncio.Event()
    task = asyncio.create_task(faultproxy.run(own, stop))
    p = Proxy(own)
    for _ in range(50):
        try:
            if (await p.http.get("/healthz")).status_code == 200:
                break
        except httpx.HTTPError:
            await asyncio.sleep(0.05)
    yield p
    stop.set()
    await task
    await p.http.aclose()


async def test_a_taken_port_is_waited_for_not_exited_on(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held as the local end of someone's connection, a port frees itself later: the proxy
    waits for it in-process (supervisord would restart an exiting one every second)."""
    monkeypatch.setattr(faultproxy, "BIND_RETRY_SECONDS", 0.1)
    own = copy.copy(settings)
    own.stack = settings.stack.model_copy(update={"faultproxy_base_port": TEST_BASE_PORT})
    holder = socket.socket()
    holder.bind(("127.0.0.1", faultproxy.FaultProxyPorts(TEST_BASE_PORT).control))
    holder.listen()
    stop = asyncio.Event()
    task = asyncio.create_task(faultproxy.run(own, stop))
    await asyncio.sleep(0.5)
    assert not task.done()  # still waiting for the port, not failed
    holder.close()
    http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{TEST_BASE_PORT}", timeout=2)
    try:
        for _ in range(40):
            try:
                if (await http.get("/healthz")).status_code == 200:
                    break
            except httpx.HTTPError:
                await asyncio.sleep(0.05)
        assert (await http.get("/healthz")).status_code == 200
    finally:
        stop.set()
        await task
        await http.aclose()


async def test_a_stop_while_a_port_is_awaited_ends_the_run(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped while a path's port is still taken, the proxy returns instead of waiting on."""
    monkeypatch.setattr(faultproxy, "BIND_RETRY_SECONDS", 30.0)
    own = copy.copy(settings)
    own.stack = settings.stack.model_copy(update={"faultproxy_base_port": TEST_BASE_PORT})
    ports = faultproxy.FaultProxyPorts(TEST_BASE_PORT)
    holder = socket.socket()
    holder.bind(("127.0.0.1", ports.redis))
    holder.listen()
    try:
        stop = asyncio.Event()
        task = asyncio.create_task(faultproxy.run(own, stop))
        await asyncio.sleep(0.3)
        assert not task.done()
        stop.set()
        await asyncio.wait_for(task, 2)  # not after the 30 s retry
    finally:
        holder.close()
    # The path it had bound before the taken one is not left listening.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", ports.pgbouncer), timeout=1).close()


async def _timed_ping(client: aioredis.Redis) -> float:
    started = time.monotonic()
    assert await client.ping()
    return time.monotonic() - started


async def test_pass_is_transparent(proxy: Proxy) -> None:
    value = os.urandom(1 << 20)  # more than one chunk each way
    async with proxy.redis() as client:
        key = f"faultproxy-test-{time.monotonic_ns()}"
        await client.set(key, value, ex=60)
        assert await client.get(key) == value
        await client.delete(key)
    conn = await proxy.pg()
    async with conn:
        row = await (await conn.execute("SELECT current_database(), 6 * 7")).fetchone()
    assert row == (proxy.settings.db.name, 42)
    state = await proxy.state("redis")
    assert state["mode"] == "pass"
    assert isinstance(state["bytes_up"], int)
    assert state["bytes_up"] > len(value)
    assert isinstance(state["bytes_down"], int)
    assert state["bytes_down"] > len(value)


async def test_latency_is_added_each_way(proxy: Proxy) -> None:
    async with proxy.redis() as client:
        direct = min([await _timed_ping(client) for _ in range(5)])
        await proxy.set("redis", "latency", ms=60, jitter_ms=5)
        slowed = min([await _timed_ping(client) for _ in range(5)])
    # 60 ms on the way there and 60 ms back (jitter 5 each way).
    assert direct < 0.05
    assert 0.11 <= slowed < 0.5, slowed
    conn = await proxy.pg()
    async with conn:
        await proxy.set("pgbouncer", "latency", ms=40)
        started = time.monotonic()
        await conn.execute("SELECT 1")
        assert time.monotonic() - started >= 0.08


async def test_stall_holds_bytes_until_it_ends_or_is_cleared(proxy: Proxy) -> None:
    async with proxy.redis() as client:
        await client.ping()  # an open connection: the stall holds it too
        await proxy.set("redis", "stall", seconds=1.0)
        held = await _timed_ping(client)
        assert 0.9 <= held < 3.0, held
        await proxy.set("redis", "stall")  # until cleared
        pinging = asyncio.create_task(_timed_ping(client))
        await asyncio.sleep(0.6)
        assert not pinging.done()
        await proxy.set("redis", "pass")
        took = await asyncio.wait_for(pinging, 2)
        assert 0.6 <= took < 1.5, took


async def test_reset_raises_on_the_client(proxy: Proxy) -> None:
    async with proxy.redis() as client:
        await client.ping()
        state = await proxy.set("redis", "reset", probability=1.0)
        assert state["reset"] == 1  # the open connection
        with pytest.raises((RedisConnectionError, ConnectionResetError)):
            await client.ping()
    conn = await proxy.pg()
    await proxy.set("pgbouncer", "pass")
    async with conn:
        await conn.execute("SELECT 1")
        await proxy.set("pgbouncer", "reset", probability=0.0)  # open ones only
        with pytest.raises(psycopg.OperationalError):
            await conn.execute("SELECT 1")
    fresh = await proxy.pg()  # probability 0: new connections pass
    async with fresh:
        await fresh.execute("SELECT 1")


async def test_refuse_closes_the_listener_and_pass_opens_it(proxy: Proxy) -> None:
    await proxy.set("redis", "refuse")
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", proxy.ports.redis)
    await proxy.set("redis", "pass")
    async with proxy.redis() as client:
        assert await client.ping()


async def test_unknown_modes_and_paths_are_refused(proxy: Proxy) -> None:
    assert (await proxy.http.post("/paths/redis", json={"mode": "melt"})).status_code == 400
    assert (await proxy.http.post("/paths/kafka", json={"mode": "pass"})).status_code == 404
    bad = await proxy.http.post("/paths/redis", json={"mode": "reset", "probability": 2})
    assert bad.status_code == 400


# --- placement: arm/disarm under traffic through nginx -------------------------------------


def _api_env(layout: Layout, program: str) -> dict[str, str]:
    pid = program_pid(layout, program)
    assert pid is not None
    # supervisord runs `sichrplace serve` itself (no shell in between).
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(): v.decode() for k, v in pairs}


async def _traffic(stack_url: str, stop: asyncio.Event, failures: list[str]) -> int:
    """Reads through nginx that need the database and Redis, until `stop`; failures noted
    (not /readyz: a draining instance rightly answers it 503)."""
    sent = 0
    async with httpx.AsyncClient(base_url=stack_url, timeout=20) as http:
        while not stop.is_set():
            # A query of its own each round: a miss in every cache, so each round reads
            # Redis (the shared cache) and the database, not only the instance's near cache.
            fresh = f"/api/v1/search/listings?city=berlin&q=altbau+{sent}"
            for path in (fresh, "/api/v1/search/suggest?q=ber"):
                try:
                    resp = await get_as_a_browser_does(http, path)
                    if resp.status_code != 200:
                        failures.append(f"{path} {resp.status_code} {resp.text[:200]}")
                except httpx.HTTPError as exc:
                    failures.append(f"{path} {exc!r}")
                sent += 1
            await asyncio.sleep(0.02)
    return sent


async def test_arm_and_disarm_keep_the_apis_serving(
    settings: Settings, layout: Layout, stack_url: str
) -> None:
    if faultproxy.is_armed(layout):
        pytest.skip("armed by someone else (a chaos run)")
    stop = asyncio.Event()
    failures: list[str] = []
    load = asyncio.create_task(_traffic(stack_url, stop, failures))
    try:
        await asyncio.to_thread(placement.arm, settings, layout)
        env = _api_env(layout, "api-1")
        ports = faultproxy.FaultProxyPorts(settings.stack.faultproxy_base_port)
        assert env["SICHRPLACE_DB_PORT"] == str(ports.pgbouncer)
        assert env["SICHRPLACE_REDIS_URL"].endswith(f":{ports.redis}/0")
        before = await asyncio.to_thread(control.paths, settings)
        moved: set[str] = set()
        for _ in range(50):
            await asyncio.sleep(0.2)
            after = await asyncio.to_thread(control.paths, settings)
            moved = {p for p in before if after[p]["bytes_up"] > before[p]["bytes_up"]}
            if moved >= {"pgbouncer", "redis"}:
                break
        assert moved >= {"pgbouncer", "redis"}, (before, after)
    finally:
        await asyncio.to_thread(placement.disarm, settings, layout)
        stop.set()
        sent = await load
    assert "SICHRPLACE_DB_PORT" not in _api_env(layout, "api-1")
    assert sent > 50
    assert not failures, failures[:5]
