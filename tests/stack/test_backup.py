"""Backups on the running stack: `stack up` made the stanza and Postgres archives through
pgBackRest, `db backup` shows in `db backups`, `db restore` runs a copy beside the stack,
and a small restore drill passes, or reports the failure when the markers cannot be right.

Each restore copies the whole test database (about 10 s here; the drill's RTO is asserted
well under a minute)."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from sichrplace.config import ObservabilityPorts, Settings
from sichrplace.stack import ports, postgres
from sichrplace.stack.backup import drill, pgbackrest, restore, status
from sichrplace.stack.ha import patroni
from sichrplace.stack.ha.config import node_index
from sichrplace.stack.layout import Layout

pytestmark = pytest.mark.stack

CLI = str(Path(sys.executable).parent / "sichrplace")


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, "db", *args], capture_output=True, text=True, check=False, timeout=timeout
    )


@contextmanager
def _held_as_a_client_end(port: int) -> Iterator[None]:
    """`port` as the local end of an open client connection, as any connection may get an
    ephemeral port: nothing listens there, yet Postgres cannot bind it."""
    with socket.socket() as listener, socket.socket() as client:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        client.bind(("127.0.0.1", port))
        client.connect(listener.getsockname())
        with listener.accept()[0]:
            yield


async def _switch_wal(settings: Settings, layout: Layout) -> None:
    await asyncio.to_thread(postgres.psql, settings, layout, "SELECT pg_switch_wal()")


def test_stack_up_made_the_stanza_and_the_primary_archives_through_pgbackrest(
    settings: Settings, layout: Layout
) -> None:
    command = postgres.psql(settings, layout, "SHOW archive_command")
    assert "pgbackrest" in command
    assert "archive-push %p" in command
    leader = patroni.cluster(settings)
    assert leader is not None
    assert leader.leader is not None
    leader_dir = layout.pg_node(node_index(leader.leader))
    assert f"--pg1-path={leader_dir}" in command
    assert postgres.psql(settings, layout, "SHOW archive_timeout") == "30s"
    assert postgres.psql(settings, layout, "SHOW max_slot_wal_keep_size") == "8GB"
    # The replica can read the archive when it cannot stream.
    restore_command = postgres.psql(
        settings, layout, "SHOW restore_command", port=settings.stack.replica_port
    )
    standby = next(m.name for m in leader.members if m.name != leader.leader)
    assert f"--pg1-path={layout.pg_node(node_index(standby))}" in restore_command
    # The stanza exists (0: backups there, 2: none yet); a missing one is an error.
    repo = asyncio.run(pgbackrest.info(settings, layout))
    assert repo.status_code in (0, 2), repo.status_message


async def test_a_segment_switched_reaches_the_archive(settings: Settings, layout: Layout) -> None:
    before = postgres.psql(settings, layout, "SELECT pg_walfile_name(pg_current_wal_lsn())")
    await _switch_wal(settings, layout)
    deadline = time.monotonic() + 20
    archived = ""
    while time.monotonic() < deadline:
        archived = postgres.psql(settings, layout, "SELECT last_archived_wal FROM pg_stat_archiver")
        if archived[:24] >= before:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{before} not archived within 20 s (last archived: {archived!r})")


def test_db_backup_is_listed_by_db_backups(settings: Settings, layout: Layout) -> None:
    # An incremental (a full one on a fresh stack: pgBackRest upgrades it when none exists).
    started = time.monotonic()
    made = _cli("backup", "--type", "incr")
    assert made.returncode == 0, made.stderr
    label = made.stdout.split()[1]
    listed = _cli("backups")
    assert listed.returncode == 0, listed.stderr
    rows = [line for line in listed.stdout.splitlines() if line.startswith(label)]
    assert len(rows) == 1, listed.stdout
    assert rows[0].split()[1] in ("full", "incr")
    # Recorded for the metrics, with its stop time within this test.
    paths = pgbackrest.paths_for(settings, layout)
    recorded = status.read(paths.status_file)["backups"][rows[0].split()[1]]
    assert recorded["label"] == label
    assert recorded["stopped_at"] >= time.time() - (time.monotonic() - started) - 2


async def test_a_drill_to_before_the_backup_reports_a_failure(
    settings: Settings, layout: Layout
) -> None:
    repo = await pgbackrest.info(settings, layout)
    assert repo.backups, "test_db_backup_is_listed_by_db_backups runs first"
    oldest = repo.backups[0]
    result = await drill.run_drill(
        settings,
        layout,
        markers=2,
        interval=0.2,
        switch_wal=lambda: _switch_wal(settings, layout),
        target=oldest.started_at - timedelta(minutes=5),
    )
    assert not result.ok
    assert result.errors
    assert result.rto_seconds is None  # no queryable copy
    assert not list(pgbackrest.paths_for(settings, layout).scratch.iterdir())  # cleaned up
    last = status.read(pgbackrest.paths_for(settings, layout).status_file)["drill"]
    assert last["last"]["ok"] is False


async def test_a_small_drill_restores_exactly_the_markers_before_its_target(
    settings: Settings, layout: Layout
) -> None:
    started = time.monotonic()
    result = await drill.run_drill(
        settings,
        layout,
        markers=4,
        interval=0.3,
        switch_wal=lambda: _switch_wal(settings, layout),
    )
    took = time.monotonic() - started
    assert result.ok, result.errors
    assert result.expected_present
    assert result.expected_absent
    assert (result.missing, result.unexpected, result.rpo_seconds) == ([], [], 0.0)
    assert result.rto_seconds is not None
    assert result.rto_seconds < 60
    assert result.archive_lag_seconds is not None
    assert took < 120
    paths = pgbackrest.paths_for(settings, layout)
    assert not list(paths.scratch.iterdir())
    assert json.loads(paths.drills_file.read_text().splitlines()[-1])["ok"] is True
    # The worker serves the results to Prometheus.
    port = ObservabilityPorts(settings.stack.exporters_base_port).worker_metrics(1)
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    # (A worker started before this code lacks them: `sichrplace stack restart worker-1`.)
    assert "sichrplace_restore_drill_success 1.0" in text
    assert f"sichrplace_restore_drill_rto_seconds {result.rto_seconds}" in text


async def test_db_restore_runs_a_copy_beside_the_stack_and_stop_removes_it(
    settings: Settings, layout: Layout
) -> None:
    into = pgbackrest.paths_for(settings, layout).root / f"test-restore-{time.monotonic_ns()}"
    first_free = restore.free_port(ports.restore_ports(settings), layout)
    with _held_as_a_client_end(first_free):
        made = await asyncio.to_thread(_cli, "restore", "--into", str(into))
    try:
        assert made.returncode == 0, made.stderr
        port = int(made.stdout.split(" -p ")[1].split()[0])
        assert port != first_free  # held by a client connection when the copy was started
        async with await psycopg.AsyncConnection.connect(
            host=str(layout.pg_socket), port=port, user="postgres", dbname=settings.db.name
        ) as conn:
            row = await (await conn.execute("SELECT pg_is_in_recovery()")).fetchone()
            assert row == (False,)  # promoted
            archive = await (await conn.execute("SHOW archive_mode")).fetchone()
            assert archive == ("off",)  # never into the stack's repository
    finally:
        stopped = await asyncio.to_thread(_cli, "restore", "--stop", str(into))
    assert stopped.returncode == 0, stopped.stderr
    assert not into.exists()


async def test_a_copy_whose_port_is_taken_before_postgres_binds_it_starts_on_another(
    settings: Settings, layout: Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The port is free when chosen and taken before Postgres binds it (the race that no
    check closes): the copy starts on the next free one."""
    chosen: list[int] = []
    real_free_port = restore.free_port

    def free_port(candidates: Sequence[int], layout: Layout) -> int:
        chosen.append(real_free_port(candidates, layout))
        return chosen[-1]

    monkeypatch.setattr(restore, "free_port", free_port)
    real_start = pgbackrest.run_as_pg_async
    held = ExitStack()
    taken: list[int] = []

    async def start_after_the_port_is_taken(args: list[str], *, what: str | None = None) -> str:
        if what == "pg_ctl start" and not taken:
            held.enter_context(_held_as_a_client_end(chosen[0]))
            taken.append(chosen[0])
        return await real_start(args, what=what)

    monkeypatch.setattr(pgbackrest, "run_as_pg_async", start_after_the_port_is_taken)
    into = pgbackrest.paths_for(settings, layout).root / f"test-restore-{time.monotonic_ns()}"
    try:
        copy = await restore.restore(settings, layout, into=into, target=None)
        assert taken, "the first start went through the port-taking wrapper"
        assert len(chosen) == 2
        assert copy.port == chosen[1] != chosen[0]
        async with await psycopg.AsyncConnection.connect(
            host=str(layout.pg_socket), port=copy.port, user="postgres", dbname=settings.db.name
        ) as conn:
            row = await (await conn.execute("SELECT pg_is_in_recovery()")).fetchone()
            assert row == (False,)
        marker = json.loads((into / restore.MARKER_FILE).read_text())
        assert marker["port"] == copy.port
        auto_conf = (into / "postgresql.auto.conf").read_text()
        assert auto_conf.count("sichrplace db restore") == 1
    finally:
        held.close()
        if restore.is_restored_copy(into):
            await restore.stop(settings, layout, into)
    assert not into.exists()
