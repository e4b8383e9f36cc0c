"""pgBackRest for the stack: where its files live, its config, the stanza, running it (as the
OS user Postgres runs as), and what `pgbackrest info` says about the repository."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from string import Template
from typing import Any, Literal

from sichrplace.config import HaPorts, Settings
from sichrplace.stack.backup import status
from sichrplace.stack.layout import (
    NODES,
    TEMPLATES,
    Layout,
    chown_pg,
    pg_os_user,
    run_as_pg,
)

BackupType = Literal["full", "diff", "incr"]
BACKUP_TYPES: tuple[BackupType, ...] = ("full", "diff", "incr")


class BackupError(RuntimeError):
    """pgBackRest (or a restore step) failed; the text says what it printed."""


def pgbackrest_bin() -> str:
    return shutil.which("pgbackrest") or "/usr/bin/pgbackrest"


@dataclass(frozen=True)
class BackupPaths:
    """The repository, pgBackRest's own folders and our records, below the data folder."""

    root: Path
    repo: Path
    conf: Path
    logs: Path
    locks: Path
    spool: Path

    @property
    def status_file(self) -> Path:
        """What the last backups and drill did (read by the worker's metrics)."""
        return self.root / "status.json"

    @property
    def drills_file(self) -> Path:
        """Every drill's result, one JSON object a line."""
        return self.root / "drills.jsonl"

    @property
    def scratch(self) -> Path:
        """Where drills restore to (removed after each)."""
        return self.root / "drills"


def paths_for(settings: Settings, layout: Layout) -> BackupPaths:
    root = layout.root / "backup"
    return BackupPaths(
        root=root,
        repo=settings.backup.repo_path or root / "repo",
        conf=layout.conf / "pgbackrest.conf",
        logs=layout.logs / "pgbackrest",
        locks=layout.run / "pgbackrest",
        spool=root / "spool",
    )


def _plain(path: Path) -> str:
    # Paths go into postgresql.conf strings and shell commands unquoted.
    text = str(path)
    if any(c in text for c in "'\" \\%"):
        raise ValueError(f"backup: {text!r}: quotes, spaces, backslashes and % are not allowed")
    return text


def base_args(settings: Settings, layout: Layout) -> list[str]:
    conf = _plain(paths_for(settings, layout).conf)
    return [pgbackrest_bin(), f"--config={conf}", f"--stanza={settings.backup.stanza}"]


def postgres_settings(settings: Settings, layout: Layout, data_dir: Path) -> dict[str, str]:
    """The archiving lines of postgresql.conf.tmpl for the instance in `data_dir`: its own
    pg1-path, so WAL paths (%p) resolve in the right cluster whichever node is primary."""
    cmd = " ".join([*base_args(settings, layout), f"--pg1-path={_plain(data_dir)}"])
    backup = settings.backup
    return {
        "archive_command": f"{cmd} archive-push %p",
        "restore_command": f'{cmd} archive-get %f "%p"',
        "archive_timeout": f"{backup.archive_timeout_seconds}s",
        "max_slot_wal_keep_size": f"{backup.max_slot_wal_keep_size_mb}MB",
    }


def config_text(settings: Settings, layout: Layout) -> str:
    paths, backup = paths_for(settings, layout), settings.backup
    return Template((TEMPLATES / "pgbackrest.conf.tmpl").read_text()).substitute(
        repo_path=_plain(paths.repo),
        retention_full=backup.retention_full,
        retention_diff=backup.retention_diff,
        retention_archive=backup.retention_archive_full,
        compress_type=backup.compress_type,
        process_max=backup.process_max,
        log_dir=paths.logs,
        lock_dir=paths.locks,
        spool_dir=paths.spool,
        stanza=backup.stanza,
        pg_nodes=_pg_nodes(settings, layout),
    )


def _pg_nodes(settings: Settings, layout: Layout) -> str:
    ha = HaPorts(settings.stack.ha_base_port)
    return "\n".join(
        f"pg{i}-path={layout.pg_node(i)}\npg{i}-port={ha.node(i)}\n"
        f"pg{i}-socket-path={layout.pg_socket}\npg{i}-user=postgres"
        for i in NODES
    )


def write_config(settings: Settings, layout: Layout) -> BackupPaths:
    """The folders (pgBackRest's owned by the Postgres user) and the config file."""
    paths = paths_for(settings, layout)
    paths.root.mkdir(mode=0o755, parents=True, exist_ok=True)
    paths.scratch.mkdir(mode=0o755, exist_ok=True)
    for folder in (paths.repo, paths.logs, paths.locks, paths.spool):
        folder.mkdir(mode=0o750, parents=True, exist_ok=True)
        chown_pg(folder)
    tmp = paths.conf.with_suffix(".tmp")
    tmp.write_text(config_text(settings, layout))
    tmp.chmod(0o644)  # no secret in it: pgBackRest reaches Postgres over the private socket
    tmp.replace(paths.conf)
    return paths


def ensure_stanza(settings: Settings, layout: Layout) -> None:
    """At `stack up`, with the leader running: config and stanza (stanza-create is
    idempotent). The archive command is in each node's config from the start (stack.ha)."""
    if shutil.which("pgbackrest") is None:
        raise SystemExit("stack: pgbackrest is missing; run scripts/bootstrap.sh (Debian package)")
    paths = write_config(settings, layout)
    try:
        run_as_pg([*base_args(settings, layout), "stanza-create"])
    except RuntimeError as exc:
        if "do not match" not in str(exc):
            raise
        # The repository belongs to a cluster that is gone (its primary was initialised
        # afresh): keep it aside, untouched, and start a new one.
        aside = paths.repo.with_name(f"{paths.repo.name}.old-{int(time.time())}")
        paths.repo.rename(aside)
        print(f"stack: the backup repository was another cluster's; moved to {aside}")
        status.update(paths.status_file, lambda data: data.pop("backups", None))
        write_config(settings, layout)
        run_as_pg([*base_args(settings, layout), "stanza-create"])
    status.update(paths.status_file, lambda data: None)  # records start (the alerts' "never")


def _as_pg_kwargs() -> dict[str, Any]:
    user = pg_os_user()
    return {"user": user, "group": user, "extra_groups": []} if user else {}


async def run_as_pg_async(args: list[str], *, what: str | None = None) -> str:
    """Run a command as the Postgres OS user; a cancelled caller (worker shutdown) stops it."""
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd="/",
        env={**os.environ, "LANG": "C.UTF-8"},
        **_as_pg_kwargs(),
    )
    try:
        out, err = await proc.communicate()
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()  # pgBackRest releases its lock and cleans up on TERM
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(proc.wait(), 20)
        raise
    if proc.returncode != 0:
        text = (err or out).decode(errors="replace").strip()
        raise BackupError(f"{what or ' '.join(args[3:5])} failed: {text}")
    return out.decode(errors="replace")


async def run(settings: Settings, layout: Layout, *args: str) -> str:
    return await run_as_pg_async(
        [*base_args(settings, layout), *args], what=f"pgbackrest {args[0]}"
    )


@dataclass(frozen=True)
class BackupRecord:
    """One backup in the repository, as `pgbackrest info` describes it."""

    label: str
    type: str
    started_at: datetime
    stopped_at: datetime
    size_bytes: int  # the database as backed up
    delta_bytes: int  # what changed since the backup it is based on
    repo_size_bytes: int  # the whole backup in the repository (compressed)
    repo_delta_bytes: int  # what this backup added to the repository
    wal_start: str | None
    wal_stop: str | None
    prior: str | None

    @property
    def duration_seconds(self) -> float:
        return (self.stopped_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class RepoInfo:
    status_code: int  # 0 ok, 2 no valid backups (pgBackRest's codes)
    status_message: str
    backups: list[BackupRecord]
    wal_min: str | None
    wal_max: str | None

    @property
    def latest(self) -> BackupRecord | None:
        return self.backups[-1] if self.backups else None


def _stamp(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value), UTC)


def parse_info(text: str, stanza: str) -> RepoInfo:
    """`pgbackrest info --output=json` for one stanza (oldest backup first)."""
    found = [s for s in json.loads(text) if s.get("name") == stanza]
    if not found:
        return RepoInfo(1, "missing stanza", [], None, None)
    doc = found[0]
    backups = []
    for item in doc.get("backup", []):
        info, archive = item.get("info", {}), item.get("archive", {})
        repo = info.get("repository", {})
        backups.append(
            BackupRecord(
                label=item["label"],
                type=item["type"],
                started_at=_stamp(item["timestamp"]["start"]),
                stopped_at=_stamp(item["timestamp"]["stop"]),
                size_bytes=int(info.get("size", 0)),
                delta_bytes=int(info.get("delta", 0)),
                repo_size_bytes=int(repo.get("size", 0) or 0),
                repo_delta_bytes=int(repo.get("delta", 0) or 0),
                wal_start=archive.get("start"),
                wal_stop=archive.get("stop"),
                prior=item.get("prior"),
            )
        )
    archives = doc.get("archive", [])
    state = doc.get("status", {})
    return RepoInfo(
        status_code=int(state.get("code", 1)),
        status_message=str(state.get("message", "")),
        backups=backups,
        wal_min=min((a["min"] for a in archives if a.get("min")), default=None),
        wal_max=max((a["max"] for a in archives if a.get("max")), default=None),
    )


async def info(settings: Settings, layout: Layout) -> RepoInfo:
    return parse_info(await run(settings, layout, "info", "--output=json"), settings.backup.stanza)


async def backup(
    settings: Settings, layout: Layout, kind: BackupType
) -> tuple[BackupRecord, float]:
    """Take a backup (a diff or incr without a full before it becomes a full: pgBackRest
    decides), expire what retention no longer keeps, record it; (backup, seconds)."""
    paths = paths_for(settings, layout)
    started = time.monotonic()
    try:
        await run(settings, layout, "backup", f"--type={kind}")
        seconds = time.monotonic() - started
        record = (await info(settings, layout)).latest
        if record is None:
            raise BackupError("pgbackrest backup succeeded but info lists no backup")
    except Exception:
        status.record_backup_failure(paths.status_file, kind)
        raise
    status.record_backup(
        paths.status_file,
        kind=record.type,
        label=record.label,
        stopped_at=record.stopped_at.timestamp(),
        seconds=seconds,
        repo_delta_bytes=record.repo_delta_bytes,
        size_bytes=record.size_bytes,
    )
    return record, seconds
