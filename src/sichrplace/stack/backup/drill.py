"""The restore drill: write marker rows at known times, restore to a random moment between two
of them, and check that exactly the markers acknowledged before it came back.

Steps (each one's time is in the result):
1. A backup exists (else a full one is taken: `took_backup`).
2. `markers` rows are written, one every `interval` seconds, each in its own transaction;
   after each commit the server's clock (`acked_at`) and the current WAL segment are read.
3. The target is a random moment between the acknowledgement of one marker and the insert
   of the next: every marker up to it was acknowledged before the target, every one after
   was not yet written.
4. The drill waits until the archiver has the WAL that holds the commit after the target
   (recovery must see a commit past the target to stop there). `archive_lag_seconds` is how
   long after its acknowledgement that commit reached the archive: the exposure a sudden loss
   of the primary and the replica would have cost, bounded by archive_timeout.
5. Restore to the target into a scratch folder, start it, wait until it answers: RTO, from
   the restore's start (what an operator's `db restore` would be) to a queryable database.
6. Check: RPO = target minus the acknowledgement of the earliest marker acknowledged before
   the target that is missing (0 when none is); any marker after the target present is a
   failure (recovery went past its target). Pass when nothing after the target is present,
   RPO and RTO are within their targets, and nothing failed.
7. Stop and delete the copy; record the result (drills.jsonl, status.json -> metrics).
"""

from __future__ import annotations

import asyncio
import random
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import structlog

from sichrplace.config import Settings
from sichrplace.kit.clock import utcnow
from sichrplace.stack.backup import pgbackrest, repository, restore, status
from sichrplace.stack.backup.pgbackrest import BackupError
from sichrplace.stack.backup.repository import Marker
from sichrplace.stack.layout import Layout

log = structlog.get_logger(__name__)


@dataclass
class DrillResult:
    ok: bool = False
    started_at: str = ""
    target_time: str | None = None
    backup_label: str | None = None
    took_backup: bool = False
    markers: int = 0
    expected_present: list[int] = field(default_factory=list)
    expected_absent: list[int] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)
    unexpected: list[int] = field(default_factory=list)
    rpo_seconds: float | None = None
    rto_seconds: float | None = None
    archive_lag_seconds: float | None = None
    archive_timeout_seconds: int = 0
    rpo_target_seconds: float = 0.0
    rto_target_seconds: float = 0.0
    restore_seconds: float | None = None
    backup_seconds: float | None = None
    duration_seconds: float = 0.0
    port: int | None = None
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Verdict:
    missing: list[int]
    unexpected: list[int]
    rpo_seconds: float


def evaluate(markers: list[Marker], present: set[int], target: datetime) -> Verdict:
    """What the restored copy says about the markers, for a target between two of them."""
    before = [m for m in markers if m.acked_at <= target]
    after = [m for m in markers if m.written_at > target]
    missing = [m for m in before if m.id not in present]
    unexpected = [m.id for m in after if m.id in present]
    rpo = (target - min(m.acked_at for m in missing)).total_seconds() if missing else 0.0
    return Verdict([m.id for m in missing], unexpected, max(rpo, 0.0))


def choose_target(markers: list[Marker], rng: random.Random) -> datetime:
    """A random moment after one marker's acknowledgement and before the next one's insert."""
    i = rng.randrange(len(markers) - 1)
    low, high = markers[i].acked_at, markers[i + 1].written_at
    if high <= low:
        raise BackupError("markers overlap: no moment between two of them")
    return low + (high - low) * rng.uniform(0.2, 0.8)


async def _connect(settings: Settings) -> psycopg.AsyncConnection[Any]:
    return await psycopg.AsyncConnection.connect(settings.db.direct_dsn, autocommit=True)


async def _write_markers(settings: Settings, run_id: str, count: int, every: float) -> list[Marker]:
    markers = []
    async with await _connect(settings) as conn:
        for n in range(count):
            if n:
                await asyncio.sleep(every)
            markers.append(await repository.write_marker(conn, f"drill {run_id} #{n + 1}"))
    return markers


async def _wait_archived(settings: Settings, wal_file: str, acked_at: datetime) -> float:
    """Until the archiver has `wal_file`; seconds from `acked_at` to its archiving."""
    limit = settings.backup.archive_timeout_seconds * 2 + 60
    deadline = time.monotonic() + limit
    async with await _connect(settings) as conn:
        while time.monotonic() < deadline:
            state = await repository.archiver_state(conn)
            done = state.last_archived_wal and state.last_archived_wal[:24] >= wal_file
            if done and state.last_archived_at is not None:
                return max((state.last_archived_at - acked_at).total_seconds(), 0.0)
            await asyncio.sleep(0.5)
        failed = state.last_failed_wal
    raise BackupError(
        f"WAL {wal_file} not archived after {limit} s (last failed: {failed}; see the "
        "primary's log and <data>/logs/pgbackrest)"
    )


async def _prune(settings: Settings) -> None:
    before = utcnow() - timedelta(days=settings.backup.drill_marker_retention_days)
    async with await _connect(settings) as conn:
        await repository.prune_markers(conn, before)


async def _present(settings: Settings, layout: Layout, port: int, ids: list[int]) -> set[int]:
    async with await psycopg.AsyncConnection.connect(
        host=str(layout.pg_socket), port=port, user="postgres", dbname=settings.db.name
    ) as conn:
        return await repository.present_markers(conn, ids)


SwitchWal = Callable[[], Awaitable[None]]


async def run_drill(
    settings: Settings,
    layout: Layout,
    *,
    markers: int | None = None,
    interval: float | None = None,
    switch_wal: SwitchWal | None = None,
    target: datetime | None = None,
    rng: random.Random | None = None,
) -> DrillResult:
    """The drill (module docstring); never raises for a failed check or step: the result
    says what failed. `switch_wal` (tests) closes the WAL segment instead of waiting for
    archive_timeout; `target` (tests) replaces the random one."""
    backup = settings.backup
    paths = pgbackrest.paths_for(settings, layout)
    started = time.monotonic()
    result = DrillResult(
        started_at=utcnow().isoformat(),
        archive_timeout_seconds=backup.archive_timeout_seconds,
        rpo_target_seconds=backup.rpo_target_seconds,
        rto_target_seconds=backup.rto_target_seconds,
    )
    scratch = paths.scratch / f"drill-{utcnow():%Y%m%dT%H%M%S}-{random.randrange(16**6):06x}"
    try:
        repo = await pgbackrest.info(settings, layout)
        latest = repo.latest
        if latest is None:
            latest, result.backup_seconds = await pgbackrest.backup(settings, layout, "full")
            result.took_backup = True
        result.backup_label = latest.label
        written = await _write_markers(
            settings,
            scratch.name,
            markers or backup.drill_markers,
            interval or backup.drill_marker_interval_seconds,
        )
        result.markers = len(written)
        chosen = target or choose_target(written, rng or random.Random())
        result.target_time = chosen.isoformat()
        after = [m for m in written if m.written_at > chosen]
        result.expected_present = [m.id for m in written if m.acked_at <= chosen]
        result.expected_absent = [m.id for m in after]
        needed = after[0] if after else written[-1]
        if switch_wal is not None:
            await switch_wal()
        result.archive_lag_seconds = round(
            await _wait_archived(settings, needed.wal_file, needed.acked_at), 3
        )
        copy = await restore.restore(
            settings,
            layout,
            into=scratch,
            target=chosen,
            size_hint_bytes=latest.size_bytes,
            # Past its target the drill has failed anyway; how far past is still worth knowing.
            ready_within=max(3 * backup.rto_target_seconds, 600),
        )
        result.port = copy.port
        result.restore_seconds = copy.restore_seconds
        result.rto_seconds = copy.ready_seconds
        verdict = evaluate(
            written, await _present(settings, layout, copy.port, [m.id for m in written]), chosen
        )
        result.missing, result.unexpected = verdict.missing, verdict.unexpected
        result.rpo_seconds = round(verdict.rpo_seconds, 3)
        if result.unexpected:
            result.errors.append(f"markers after the target came back: {result.unexpected}")
        if result.rpo_seconds > backup.rpo_target_seconds:
            result.errors.append(f"RPO {result.rpo_seconds} s above {backup.rpo_target_seconds} s")
        elif result.missing:
            result.errors.append(
                f"markers acknowledged before the target missing: {result.missing}"
            )
        if result.rto_seconds > backup.rto_target_seconds:
            result.errors.append(f"RTO {result.rto_seconds} s above {backup.rto_target_seconds} s")
        await _prune(settings)
    except BackupError as exc:
        result.errors.append(str(exc))
    except Exception as exc:  # a drill that broke is a failed drill, recorded as such
        result.errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        await _cleanup(settings, layout, scratch, result)
        result.duration_seconds = round(time.monotonic() - started, 3)
    result.ok = not result.errors
    _record(paths, result)
    log.info(
        "restore_drill_finished" if result.ok else "restore_drill_failed",
        rpo_seconds=result.rpo_seconds,
        rto_seconds=result.rto_seconds,
        errors=result.errors,
    )
    return result


async def _cleanup(settings: Settings, layout: Layout, scratch: Path, result: DrillResult) -> None:
    if not await asyncio.to_thread(scratch.exists):
        return
    try:
        if await asyncio.to_thread(restore.is_restored_copy, scratch):
            await restore.stop(settings, layout, scratch)
        else:  # the restore itself failed: nothing runs there
            await asyncio.to_thread(_remove, scratch)
    except (BackupError, OSError) as exc:
        result.errors.append(f"cleanup of {scratch} failed: {exc}")


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _record(paths: pgbackrest.BackupPaths, result: DrillResult) -> None:
    data = result.to_json()
    status.append_line(paths.drills_file, data)
    status.record_drill(paths.status_file, data, ok=result.ok)
