"""Losing the replica (its node stopped): reads go to the primary, readiness says degraded,
then recovers."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from sqlalchemy import text

from sichrplace.config import Settings
from sichrplace.platform.db.engines import Database
from sichrplace.platform.db.sessions import ReplicaSession
from sichrplace.stack.ha import patroni
from sichrplace.stack.ha.config import node_index, patroni_program
from sichrplace.stack.layout import Layout
from tests.stack.conftest import ctl

pytestmark = pytest.mark.stack


async def _readiness(port: int) -> tuple[int, str]:
    async with httpx.AsyncClient(timeout=5) as http:
        resp = await http.get(f"http://127.0.0.1:{port}/readyz")
        return resp.status_code, resp.json()["status"]


async def _wait_all(ports: list[int], want: str, within: float = 30) -> None:
    deadline = time.monotonic() + within
    last: list[tuple[int, str]] = []
    while time.monotonic() < deadline:
        last = [await _readiness(p) for p in ports]
        if all(r == (200, want) for r in last):
            return
        await asyncio.sleep(0.3)
    raise AssertionError(f"readiness never became {want}: {last}")


async def test_stopping_the_replica_degrades_and_starting_it_recovers(
    settings: Settings, layout: Layout, db: Database, client: httpx.AsyncClient
) -> None:
    ports = [settings.stack.api_base_port, settings.stack.api_base_port + 1]
    await _wait_all(ports, "ok")
    found = patroni.wait_sync_standby(settings, 120)
    standby = patroni_program(node_index(found.sync_standby or ""))
    ctl(layout, "stop", standby)
    try:
        # A read issued right away, before any monitor noticed, still succeeds, served by
        # the leader: HAProxy's read endpoint falls back to it (or the application does, when
        # the endpoint fails).
        session = ReplicaSession(db)
        assert await session.scalar(text("SELECT pg_is_in_recovery()")) is False
        search = await client.get(
            "/api/v1/search/listings", params={"limit": 5}, headers={"X-Cache-Bypass": "1"}
        )
        assert search.status_code == 200
        await _wait_all(ports, "degraded")
        async with httpx.AsyncClient(timeout=5) as http:
            public = await http.get(f"http://127.0.0.1:{settings.stack.nginx_port}/readyz")
        assert (public.status_code, public.json()["status"]) == (200, "degraded")
        # Once its monitor has seen it, the application sends lag-tolerant reads to the
        # primary itself.
        await db.check_replica()
        fast = ReplicaSession(db)
        rows = await fast.fetch(text("SELECT pg_is_in_recovery() AS standby"))
        assert (rows.columns, rows.rows, fast.last_target) == (("standby",), [(False,)], "primary")
        search = await client.get(
            "/api/v1/search/listings", params={"limit": 5}, headers={"X-Cache-Bypass": "1"}
        )
        assert search.headers["x-db-target"] == "primary"
    finally:
        ctl(layout, "start", standby)
    await _wait_all(ports, "ok", within=60)
    await db.check_replica()
    session = ReplicaSession(db)
    assert await session.scalar(text("SELECT pg_is_in_recovery()")) is True
    assert session.last_target == "replica"
