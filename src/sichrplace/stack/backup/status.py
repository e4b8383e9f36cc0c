"""What the last backups and restore drills did, in one JSON file under the data folder.

Written by whoever ran them (the `sichrplace db` commands or the worker's scheduled jobs),
read by the worker's metrics at scrape time (`metrics.py`), so a drill run by hand shows up
in Prometheus as well and a restarted worker still knows the last results. A file lock keeps
a command and a job from losing each other's update.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

Status = dict[str, Any]


def read(path: Path) -> Status:
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_suffix(".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def update(path: Path, change: Callable[[Status], None]) -> Status:
    with _locked(path):
        data = read(path)
        # From when the records count: the alerts on a backup or drill that never happened.
        data.setdefault("created_at", time.time())
        change(data)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        tmp.chmod(0o644)
        tmp.replace(path)
    return data


def _count(data: Status, key: str, label: str) -> None:
    counts = data.setdefault(key, {})
    counts[label] = int(counts.get(label, 0)) + 1


def record_backup(
    path: Path,
    *,
    kind: str,
    label: str,
    stopped_at: float,
    seconds: float,
    repo_delta_bytes: int,
    size_bytes: int,
) -> None:
    def change(data: Status) -> None:
        data.setdefault("backups", {})[kind] = {
            "label": label,
            "stopped_at": stopped_at,
            "duration_seconds": round(seconds, 3),
            "repo_delta_bytes": repo_delta_bytes,
            "size_bytes": size_bytes,
        }
        _count(data, "backup_runs", f"{kind}:succeeded")

    update(path, change)


def record_backup_failure(path: Path, kind: str) -> None:
    update(path, lambda data: _count(data, "backup_runs", f"{kind}:failed"))


def record_drill(path: Path, result: dict[str, Any], *, ok: bool) -> None:
    """The drill's result (as in drills.jsonl) becomes the last drill; a success also its
    last success."""
    now = time.time()

    def change(data: Status) -> None:
        drill = data.setdefault("drill", {})
        drill["last_run"] = now
        drill["last"] = result
        if ok:
            drill["last_success"] = now
        _count(data, "drill_runs", "succeeded" if ok else "failed")

    update(path, change)


def append_line(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fh.write(json.dumps(record, sort_keys=True) + "\n")
