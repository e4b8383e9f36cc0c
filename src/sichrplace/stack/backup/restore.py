"""Restore a backup into a new directory and run it beside the stack on a port of its own.

The copy is a plain Postgres (not under supervisord): `pgbackrest restore` writes the data and
the recovery settings, we add ours last in postgresql.auto.conf (its port, no archiving into
the stack's repository, no synchronous standbys to wait for), start it with pg_ctl as the
Postgres OS user and wait until it has recovered to the target and answers queries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import psycopg

from sichrplace.config import Settings
from sichrplace.stack import ports as stack_ports
from sichrplace.stack.backup import pgbackrest, repository
from sichrplace.stack.backup.pgbackrest import BackupError
from sichrplace.stack.layout import PG_BIN, Layout, chown_pg, postmaster_pid, run_as_pg

MARKER_FILE = "sichrplace-restore.json"
LOG_FILE = "restore-postgres.log"
Action = Literal["promote", "pause"]
PORT_ATTEMPTS = 3


@dataclass(frozen=True)
class Restored:
    data_dir: Path
    port: int
    target: str  # ISO time, or "latest"
    action: Action
    backup_set: str | None
    restore_seconds: float  # pgbackrest restore alone
    ready_seconds: float  # from the restore's start to a queryable database (RTO)


def target_text(target: datetime) -> str:
    """The form pgBackRest and Postgres read for recovery_target_time (UTC, microseconds)."""
    return target.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")


def bindable(port: int) -> bool:
    """Whether Postgres could listen on 127.0.0.1:`port` now. Binding the way it does tells
    more than connecting: a port held as the local end of some client connection refuses a
    connection, yet the bind fails."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
        except OSError:
            return False
        return True


def free_port(ports: Sequence[int], layout: Layout) -> int:
    """The first of `ports` that Postgres could bind, without a Postgres socket of ours."""
    for port in ports:
        if (layout.pg_socket / f".s.PGSQL.{port}").exists():
            continue
        if bindable(port):
            return port
    raise BackupError(f"no free port among {len(ports)} from {ports[0] if ports else '-'}")


def _protected(settings: Settings, layout: Layout, data_dir: Path) -> bool:
    resolved = data_dir.resolve()
    return resolved in {*(node.resolve() for node in layout.pg_nodes), layout.root}


def _prepare_dir(data_dir: Path) -> None:
    if data_dir.exists() and any(data_dir.iterdir()):
        raise BackupError(f"{data_dir} is not empty: restore into a new directory")
    for parent in reversed(data_dir.parents):
        if parent != Path("/") and not parent.exists():
            parent.mkdir(mode=0o755)
    data_dir.mkdir(mode=0o700, exist_ok=True)
    chown_pg(data_dir)
    # A parent the Postgres user cannot enter (a private home) fails here, not in pgBackRest.
    try:
        run_as_pg(["test", "-w", str(data_dir), "-a", "-x", str(data_dir)])
    except RuntimeError as exc:
        raise BackupError(
            f"the Postgres OS user cannot write {data_dir}: pick a folder it can reach "
            "(e.g. under /var/tmp)"
        ) from exc


def _check_space(data_dir: Path, size_bytes: int) -> None:
    free = shutil.disk_usage(data_dir).free
    needed = int(size_bytes * 1.05) + 512 * 1024 * 1024
    if free < needed:
        raise BackupError(
            f"{data_dir}: {free / 2**30:.1f} GiB free, the restore needs about "
            f"{needed / 2**30:.1f} GiB (database {size_bytes / 2**30:.1f} GiB + WAL)"
        )


def _overrides(settings: Settings, layout: Layout, data_dir: Path, port: int) -> str:
    fetch = " ".join([*pgbackrest.base_args(settings, layout), f"--pg1-path={data_dir}"])
    return (
        "\n# sichrplace db restore: this copy runs beside the stack (read last, wins).\n"
        f"port = {port}\n"
        "listen_addresses = '127.0.0.1'\n"
        f"unix_socket_directories = '{layout.pg_socket}'\n"
        # Never into the stack's repository: a promoted copy is a new timeline of its own.
        "archive_mode = off\n"
        f"restore_command = '{fetch} archive-get %f \"%p\"'\n"
        "synchronous_standby_names = ''\n"
        "primary_conninfo = ''\n"
        "primary_slot_name = ''\n"
        "shared_buffers = '256MB'\n"
        "hot_standby = on\n"
    )


def _postmaster_alive(data_dir: Path) -> bool:
    return postmaster_pid(data_dir) is not None


def log_tail(data_dir: Path, lines: int = 15) -> str:
    try:
        return "\n".join((data_dir / LOG_FILE).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


async def _wait_ready(
    settings: Settings, layout: Layout, data_dir: Path, port: int, action: Action, within: float
) -> None:
    """Until the copy has reached its target: promoted (out of recovery) or paused there."""
    deadline = time.monotonic() + within
    started = time.monotonic()
    while time.monotonic() < deadline:
        if time.monotonic() - started > 2 and not _postmaster_alive(data_dir):
            raise BackupError(f"the restored Postgres stopped:\n{log_tail(data_dir)}")
        with contextlib.suppress(psycopg.OperationalError):
            async with await psycopg.AsyncConnection.connect(
                host=str(layout.pg_socket),
                port=port,
                user="postgres",
                dbname=settings.db.name,
                autocommit=True,
                connect_timeout=2,
            ) as conn:
                in_recovery, pause = await repository.recovery_state(conn)
                if (action == "promote" and not in_recovery) or (
                    action == "pause" and pause == "paused"
                ):
                    return
        await asyncio.sleep(0.25)
    raise BackupError(f"the restored Postgres was not ready after {within:.0f} s")


def _usable_dir(
    settings: Settings, layout: Layout, into: Path, size_hint_bytes: int | None
) -> Path:
    into = into.absolute()
    if _protected(settings, layout, into):
        raise BackupError(f"{into} is one of the stack's own folders")
    _prepare_dir(into)
    if size_hint_bytes:
        _check_space(into, size_hint_bytes)
    return into


def _configure_copy(settings: Settings, layout: Layout, copy: Restored, restored_conf: str) -> None:
    """pgBackRest's postgresql.auto.conf with our overrides after it (rewritten whole, so a
    start on another port leaves one block)."""
    (copy.data_dir / "postgresql.auto.conf").write_text(
        restored_conf + _overrides(settings, layout, copy.data_dir, copy.port)
    )
    (copy.data_dir / MARKER_FILE).write_text(json.dumps(asdict(copy), default=str))


def _port_was_taken(data_dir: Path) -> bool:
    return "could not create any TCP/IP sockets" in log_tail(data_dir)


async def _start_copy(
    settings: Settings,
    layout: Layout,
    restored: Restored,
    *,
    port_given: bool,
    ready_within: float,
) -> Restored:
    """Start the copy and wait for its target. A port chosen by us can still be taken between
    the choice and the bind (any client connection may get it as its local end): then the
    next free one, a few times. The copy has not begun its recovery when the bind fails."""
    conf = restored.data_dir / "postgresql.auto.conf"
    restored_conf = conf.read_text() if conf.exists() else ""
    attempt = 1
    while True:
        _configure_copy(settings, layout, restored, restored_conf)
        await pgbackrest.run_as_pg_async(
            [
                *(f"{PG_BIN}/pg_ctl", "start", "-W", "-s"),
                *("-D", str(restored.data_dir), "-l", str(restored.data_dir / LOG_FILE)),
            ],
            what="pg_ctl start",
        )
        try:
            await _wait_ready(
                settings, layout, restored.data_dir, restored.port, restored.action, ready_within
            )
            return restored
        except BackupError:
            retry = not port_given and attempt < PORT_ATTEMPTS
            if not (retry and _port_was_taken(restored.data_dir)):
                raise
        attempt += 1
        later = [p for p in stack_ports.restore_ports(settings) if p > restored.port]
        port = free_port(later, layout)
        restored = replace(restored, port=port)


async def restore(
    settings: Settings,
    layout: Layout,
    *,
    into: Path,
    target: datetime | None,
    port: int | None = None,
    action: Action = "promote",
    backup_set: str | None = None,
    size_hint_bytes: int | None = None,
    ready_within: float = 3600,
) -> Restored:
    """Restore to `target` (None: the end of the archive) into a new `into`, start it, wait
    until it answers; the caller stops it with `stop()`."""
    started = time.monotonic()
    into = _usable_dir(settings, layout, into, size_hint_bytes)
    args = ["restore", f"--pg1-path={into}", f"--process-max={settings.backup.process_max}"]
    if target is not None:
        args += ["--type=time", f"--target={target_text(target)}", f"--target-action={action}"]
    if backup_set:
        args.append(f"--set={backup_set}")
    await pgbackrest.run(settings, layout, *args)
    restore_seconds = time.monotonic() - started
    restored = Restored(
        data_dir=into,
        # Chosen now, not before the minutes of a large restore.
        port=port or free_port(stack_ports.restore_ports(settings), layout),
        target=target.isoformat() if target else "latest",
        action=action if target else "promote",
        backup_set=backup_set,
        restore_seconds=round(restore_seconds, 3),
        ready_seconds=0.0,
    )
    restored = await _start_copy(
        settings, layout, restored, port_given=port is not None, ready_within=ready_within
    )
    ready = time.monotonic() - started
    return replace(restored, ready_seconds=round(ready, 3))


def is_restored_copy(data_dir: Path) -> bool:
    return (data_dir / MARKER_FILE).is_file()


def _checked_copy(settings: Settings, layout: Layout, data_dir: Path) -> Path:
    data_dir = data_dir.absolute()
    if _protected(settings, layout, data_dir) or not is_restored_copy(data_dir):
        raise BackupError(f"{data_dir} is no copy made by `sichrplace db restore`")
    return data_dir


async def stop(settings: Settings, layout: Layout, data_dir: Path, *, remove: bool = True) -> None:
    """Stop a copy made by `restore` (fast shutdown) and, unless told not to, delete it."""
    data_dir = _checked_copy(settings, layout, data_dir)
    if _postmaster_alive(data_dir):
        await pgbackrest.run_as_pg_async(
            [f"{PG_BIN}/pg_ctl", "stop", "-s", "-w", "-m", "fast", "-D", str(data_dir)],
            what="pg_ctl stop",
        )
    if remove:
        await asyncio.to_thread(shutil.rmtree, data_dir)
