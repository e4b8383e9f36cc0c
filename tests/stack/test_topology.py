"""The running stack: nginx spreads load, survives a dead instance, and the tiers are real."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from sichrplace.config import Settings
from sichrplace.stack import ports
from sichrplace.stack.layout import PGBOUNCER_ADMIN, Layout
from sichrplace.stack.render import stack_secrets
from tests.stack.conftest import (
    access_log_entries,
    ctl,
    program_pid,
    wait_nginx_uses_every_instance,
)

pytestmark = pytest.mark.stack


async def _wait_until(probe, within: float = 30.0, every: float = 0.2):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            result = await probe()
            if result:
                return result
        except httpx.HTTPError:
            pass
        await asyncio.sleep(every)
    raise AssertionError("condition not reached in time")


def test_status_lists_every_component(settings: Settings) -> None:
    cli = str(Path(sys.executable).parent / "sichrplace")
    out = subprocess.run([cli, "stack", "status"], capture_output=True, text=True, check=True)
    lines = {line.split()[0]: line for line in out.stdout.splitlines() if line.strip()}
    for name in (
        "etcd",
        "patroni-node1",
        "patroni-node2",
        "haproxy",
        "pgbouncer",
        "redis",
        "nginx",
        "api-1",
        "api-2",
        "worker-1",
    ):
        assert name in lines, out.stdout
        assert "RUNNING" in lines[name], lines[name]
    roles = {line.split()[1] for line in out.stdout.splitlines() if line.startswith("  node")}
    assert roles == {"leader", "sync_standby"}, out.stdout
    assert f"data folder: {settings.stack.data_dir}" in out.stdout


def test_the_stacks_ports_are_kept_out_of_the_ephemeral_range(settings: Settings) -> None:
    """`stack up` reserved them: no client connection gets one as its local end and keeps a
    restarted program from binding it."""
    reserved = ports.RESERVED_PORTS.read_text()
    assert ports.missing(settings, reserved) == [], reserved


def test_replica_is_a_streaming_standby(settings: Settings) -> None:
    db = settings.db
    dsn = f"host=127.0.0.1 port={settings.stack.replica_port} dbname={db.name} user={db.user}"
    with psycopg.connect(dsn, password=db.password.get_secret_value()) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        status = conn.execute("SELECT status FROM pg_stat_wal_receiver").fetchone()
        assert status == ("streaming",)
    with psycopg.connect(db.direct_dsn) as conn:
        archive = conn.execute("SHOW archive_mode").fetchone()
        assert archive == ("on",)
        libs = conn.execute("SHOW shared_preload_libraries").fetchone()
        assert libs is not None
        assert "pg_stat_statements" in libs[0]


def test_pgbouncer_runs_in_transaction_mode(settings: Settings, layout: Layout) -> None:
    password = stack_secrets(layout)["PGBOUNCER_ADMIN_PASSWORD"]
    dsn = f"host=127.0.0.1 port={settings.stack.pgbouncer_port} dbname=pgbouncer"
    with psycopg.connect(dsn, user=PGBOUNCER_ADMIN, password=password, autocommit=True) as conn:
        rows = {row[0]: row[1] for row in conn.execute("SHOW CONFIG").fetchall()}
        databases = {row[0] for row in conn.execute("SHOW DATABASES").fetchall()}
    assert rows["pool_mode"] == "transaction"
    assert {settings.db.name, settings.db.replica_name} <= databases


async def test_nginx_spreads_requests_over_instances(
    stack_url: str, layout: Layout, unique: str
) -> None:
    async with httpx.AsyncClient(base_url=stack_url) as http:
        for i in range(40):
            resp = await http.get("/healthz", headers={"X-Request-ID": f"spread-{unique}-{i}"})
            assert resp.status_code == 200
            assert resp.headers["x-request-id"] == f"spread-{unique}-{i}"
    await asyncio.sleep(1.5)  # the access log is flushed every second
    entries = access_log_entries(layout, f"spread-{unique}-")
    assert len(entries) == 40
    upstreams = {e["upstream"] for e in entries}
    assert len(upstreams) >= 2, upstreams


async def _steady_stream(stack_url: str, seconds: float, streams: int) -> tuple[int, list[str]]:
    ok = 0
    failures: list[str] = []
    deadline = time.monotonic() + seconds

    async def one_stream() -> None:
        nonlocal ok
        async with httpx.AsyncClient(base_url=stack_url, timeout=10) as http:
            while time.monotonic() < deadline:
                try:
                    resp = await http.get("/api/v1/version")
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                    continue
                if resp.status_code == 200:
                    ok += 1
                else:
                    failures.append(f"{resp.status_code}")

    await asyncio.gather(*(one_stream() for _ in range(streams)))
    return ok, failures


async def test_killing_an_instance_fails_no_request(
    stack_url: str, layout: Layout, settings: Settings
) -> None:
    await wait_nginx_uses_every_instance(stack_url, layout)  # the other one must be serving
    before = program_pid(layout, "api-1")
    assert before is not None

    async def chaos() -> None:
        await asyncio.sleep(1.0)
        ctl(layout, "signal", "KILL", "api-1")

    (ok, failures), _ = await asyncio.gather(_steady_stream(stack_url, 5.0, 6), chaos())
    assert failures == []
    assert ok > 100

    async def restarted() -> bool:
        pid = program_pid(layout, "api-1")
        if pid is None or pid == before:
            return False
        port = settings.stack.api_base_port
        async with httpx.AsyncClient() as http:
            return (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200

    await _wait_until(restarted)
    await wait_nginx_uses_every_instance(stack_url, layout)


async def test_sigterm_reports_not_ready_then_exits_and_is_restarted(
    stack_url: str, layout: Layout, settings: Settings
) -> None:
    await wait_nginx_uses_every_instance(stack_url, layout)
    port = settings.stack.api_base_port + 1
    before = program_pid(layout, "api-2")
    ctl(layout, "signal", "TERM", "api-2")
    async with httpx.AsyncClient() as http:
        resp = await http.get(f"http://127.0.0.1:{port}/readyz")
        assert resp.status_code == 503
        assert resp.json()["status"] == "draining"
        # Still serving while draining: in-flight and new requests complete.
        assert (await http.get(f"http://127.0.0.1:{port}/api/v1/version")).status_code == 200
    _, failures = await _steady_stream(stack_url, 3.0, 4)
    assert failures == []

    async def back() -> bool:
        pid = program_pid(layout, "api-2")
        async with httpx.AsyncClient() as http:
            resp = await http.get(f"http://127.0.0.1:{port}/readyz")
        return pid not in (None, before) and resp.status_code == 200

    await _wait_until(back)
    await wait_nginx_uses_every_instance(stack_url, layout)


async def test_a_killed_worker_is_restarted_by_the_supervisor(layout: Layout) -> None:
    before = program_pid(layout, "worker-1")
    assert before is not None
    ctl(layout, "signal", "KILL", "worker-1")

    async def restarted() -> bool:
        pid = program_pid(layout, "worker-1")
        return pid is not None and pid != before and "RUNNING" in ctl(layout, "status", "worker-1")

    await _wait_until(restarted)
