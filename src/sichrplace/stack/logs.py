"""Rotation of the logs nginx writes itself (supervisord rotates what it captures).

nginx's access log grows by a JSON line per request (~2 MB/s at the benchmark's 5,000
requests a second) and nothing else bounds it: `sichrplace stack rotate-logs` (from cron, or
by hand) renames each file one generation along and has nginx reopen its logs (USR1)."""

from __future__ import annotations

from pathlib import Path

# With the edge's two logs (stack/edge/conf.py), which its program follows across a rotation.
NGINX_LOGS = ("nginx-access.log", "nginx-error.log", "edge-fill.log", "edge-views.log")


def shift(path: Path, keep: int) -> bool:
    """Rename `path` to `path.1`, `path.1` to `path.2` … keeping `keep` old generations (the
    oldest is dropped); False when there is no `path` (or it is empty) to rotate."""
    if keep < 1:
        raise ValueError("keep at least one old generation")
    if not path.exists() or path.stat().st_size == 0:
        return False
    generation = path.with_name(f"{path.name}.{keep}")
    generation.unlink(missing_ok=True)
    for n in range(keep - 1, 0, -1):
        older = path.with_name(f"{path.name}.{n}")
        if older.exists():
            older.rename(path.with_name(f"{path.name}.{n + 1}"))
    path.rename(path.with_name(f"{path.name}.1"))
    return True


def rotate_nginx_logs(log_dir: Path, keep: int) -> list[str]:
    """Shift nginx's log files in `log_dir`; the names of those rotated. nginx keeps writing
    to the renamed files (same inode) until it is told to reopen them."""
    return [name for name in NGINX_LOGS if shift(log_dir / name, keep)]


__all__ = ["NGINX_LOGS", "rotate_nginx_logs", "shift"]
