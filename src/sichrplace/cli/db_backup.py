"""`sichrplace db backup | backups | restore | drill`: pgBackRest backups of the stack's
primary, restores beside the stack, and the restore drill (sichrplace/stack/backup)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import typer

from sichrplace.config import Settings, get_settings
from sichrplace.stack import postgres
from sichrplace.stack.backup import drill as drills
from sichrplace.stack.backup import pgbackrest
from sichrplace.stack.backup import restore as restores
from sichrplace.stack.backup.pgbackrest import BACKUP_TYPES, BackupError, BackupRecord
from sichrplace.stack.layout import Layout, layout_for


def _ctx() -> tuple[Settings, Layout]:
    settings = get_settings()
    return settings, layout_for(settings)


def _fail(msg: str) -> typer.Exit:
    typer.echo(f"db: ERROR: {msg}", err=True)
    return typer.Exit(1)


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """ISO 8601 (`2026-12-06T21:00:00Z`, `2026-12-06 21:00:00+01:00`); no zone means UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r}: use ISO 8601, e.g. 2026-12-06T21:00:00Z") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def backup(
    kind: str = typer.Option(
        "full", "--type", help="full, diff (changes since the last full) or incr (since any)"
    ),
) -> None:
    """Take a backup now (then pgBackRest expires what the retention no longer keeps)."""
    if kind not in BACKUP_TYPES:
        raise typer.BadParameter(f"--type must be one of {', '.join(BACKUP_TYPES)}")
    settings, layout = _ctx()
    try:
        record, seconds = asyncio.run(pgbackrest.backup(settings, layout, kind))
    except BackupError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(
        f"backup {record.label} ({record.type}) in {seconds:.1f} s: database "
        f"{_size(record.size_bytes)}, {_size(record.repo_delta_bytes)} added to the repository"
    )


def _row(record: BackupRecord) -> list[str]:
    return [
        record.label,
        record.type,
        _when(record.started_at),
        _when(record.stopped_at),
        f"{record.duration_seconds:.0f} s",
        _size(record.size_bytes),
        _size(record.repo_delta_bytes),
        f"{record.wal_start or '-'} .. {record.wal_stop or '-'}",
    ]


def backups(
    as_json: bool = typer.Option(False, "--json", help="pgBackRest's records as JSON"),
) -> None:
    """List the backups in the repository, oldest first."""
    settings, layout = _ctx()
    try:
        repo = asyncio.run(pgbackrest.info(settings, layout))
    except BackupError as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        for record in repo.backups:
            typer.echo(json.dumps(asdict(record), default=str))
        return
    header = ["label", "type", "start", "stop", "took", "database", "added", "WAL"]
    rows = [header, *(_row(r) for r in repo.backups)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        typer.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    typer.echo(
        f"{len(repo.backups)} backup(s); status: {repo.status_message}; archived WAL "
        f"{repo.wal_min or '-'} .. {repo.wal_max or '-'}"
    )


def restore(
    target_time: str = typer.Option(
        None, "--target-time", help="recover to this moment (ISO 8601; default: the latest)"
    ),
    into: Path = typer.Option(None, "--into", help="a new, empty directory for the copy"),
    port: int = typer.Option(None, "--port", help="its port (default: the first free one)"),
    pause: bool = typer.Option(
        False, "--pause", help="stay in recovery at the target (read-only) instead of promoting"
    ),
    backup_set: str = typer.Option(None, "--set", help="restore this backup (default: chosen)"),
    stop: Path = typer.Option(None, "--stop", help="stop the copy in this directory"),
    keep: bool = typer.Option(False, "--keep", help="with --stop: keep its files"),
) -> None:
    """Restore the primary to a moment into a new directory and run it beside the stack."""
    settings, layout = _ctx()
    if stop is not None:
        try:
            asyncio.run(restores.stop(settings, layout, stop, remove=not keep))
        except BackupError as exc:
            raise _fail(str(exc)) from exc
        typer.echo(f"restore: stopped {stop}" + (" (files kept)" if keep else " and removed it"))
        return
    if into is None:
        raise typer.BadParameter("--into DIR is needed (or --stop DIR)")
    target = parse_time(target_time) if target_time else None
    try:
        copy = asyncio.run(
            restores.restore(
                settings,
                layout,
                into=into,
                target=target,
                port=port,
                action="pause" if pause else "promote",
                backup_set=backup_set,
            )
        )
    except BackupError as exc:
        raise _fail(f"{exc}\n(remove {into} before trying again)") from exc
    db = settings.db
    state = "paused at the target (read-only)" if copy.action == "pause" else "promoted"
    typer.echo(
        f"restore: {copy.data_dir} recovered to {copy.target}, {state}, queryable after "
        f"{copy.ready_seconds:.1f} s (pgbackrest restore {copy.restore_seconds:.1f} s)\n"
        f"  connect: psql -h 127.0.0.1 -p {copy.port} -U {db.user} {db.name}\n"
        f"  stop:    sichrplace db restore --stop {copy.data_dir}"
    )


async def _switch_wal(settings: Settings, layout: Layout) -> None:
    await asyncio.to_thread(postgres.psql, settings, layout, "SELECT pg_switch_wal()")


def drill(
    markers: int = typer.Option(None, "--markers", min=2, help="marker rows (default setting)"),
    interval: float = typer.Option(None, "--interval", help="seconds between markers"),
    switch_wal: bool = typer.Option(
        False, "--switch-wal", help="close the WAL segment instead of waiting archive_timeout"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
) -> None:
    """Restore to a random recent moment, check marker rows, report RPO and RTO."""
    settings, layout = _ctx()

    async def switch() -> None:
        await _switch_wal(settings, layout)

    result = asyncio.run(
        drills.run_drill(
            settings,
            layout,
            markers=markers,
            interval=interval,
            switch_wal=switch if switch_wal else None,
        )
    )
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=1))
    else:
        for line in describe(result):
            typer.echo(f"drill: {line}")
        paths = pgbackrest.paths_for(settings, layout)
        typer.echo(f"drill: {'OK' if result.ok else 'FAILED'} (results: {paths.drills_file})")
    if not result.ok:
        raise typer.Exit(1)


def describe(result: drills.DrillResult) -> list[str]:
    took = f", taken now in {result.backup_seconds:.1f} s" if result.took_backup else ""
    lines = [f"backup {result.backup_label or '-'}{took}"]
    if result.target_time:
        lines.append(
            f"{result.markers} markers; target {result.target_time}: "
            f"{len(result.expected_present)} before it, {len(result.expected_absent)} after"
        )
    if result.archive_lag_seconds is not None:
        lines.append(
            f"WAL archived {result.archive_lag_seconds:.1f} s after the commit "
            f"(archive_timeout {result.archive_timeout_seconds} s)"
        )
    if result.rto_seconds is not None:
        lines.append(
            f"RTO {result.rto_seconds:.1f} s to a queryable copy (target "
            f"{result.rto_target_seconds:.0f} s; pgbackrest restore {result.restore_seconds:.1f} s)"
        )
    if result.rpo_seconds is not None:
        lines.append(
            f"RPO {result.rpo_seconds:.1f} s (target {result.rpo_target_seconds:.0f} s): "
            f"missing {result.missing or 'none'}, after the target present "
            f"{result.unexpected or 'none'}"
        )
    lines += [f"error: {error}" for error in result.errors]
    lines.append(f"took {result.duration_seconds:.1f} s in all")
    return lines
