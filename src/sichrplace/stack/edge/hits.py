"""How the edge served a stretch of traffic, from nginx's access log (its `cache` field, the
`$upstream_cache_status` of each request: HIT, MISS, EXPIRED, REVALIDATED, STALE, UPDATING,
BYPASS, or empty for a request the edge does not cache).

`LogWindow` marks where the log ends before a run; `statuses` then counts the requests logged
since (the access log is flushed every second: wait that long after the run), optionally only
those for the given request URIs (other traffic of the same moment left out).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

NOT_CACHED = "-"  # requests of locations the edge does not cache
FLUSH_SECONDS = 1.1  # nginx writes its access log buffer at least every second


@dataclass(frozen=True, slots=True)
class EdgeShares:
    counts: dict[str, int]

    @property
    def requests(self) -> int:
        return sum(self.counts.values())

    def share(self, *statuses: str) -> float:
        total = self.requests
        return sum(self.counts.get(s, 0) for s in statuses) / total if total else 0.0

    @property
    def hit_ratio(self) -> float:
        """Answered from the cache without asking the API (HIT, and stale copies served)."""
        return self.share("HIT", "STALE", "UPDATING")


class LogWindow:
    """The access log from the moment of `LogWindow(path)` on."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.start = path.stat().st_size if path.exists() else 0
        self.inode = path.stat().st_ino if path.exists() else 0

    def statuses(self, uris: Collection[str] | None = None) -> EdgeShares | None:
        """The cache statuses of the requests logged since; None when the log was rotated
        meanwhile (or is not there: a stack on another host)."""
        if not self.path.exists():
            return None
        stat = self.path.stat()
        if stat.st_ino != self.inode or stat.st_size < self.start:
            return None
        with self.path.open("rb") as fh:
            fh.seek(self.start)
            data = fh.read()
        return EdgeShares(dict(count_statuses(data.splitlines(), uris)))


def count_statuses(lines: list[bytes], uris: Collection[str] | None = None) -> Counter[str]:
    wanted = set(uris) if uris is not None else None
    counts: Counter[str] = Counter()
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if wanted is not None and entry.get("uri") not in wanted:
            continue
        counts[entry.get("cache") or NOT_CACHED] += 1
    return counts


__all__ = ["FLUSH_SECONDS", "NOT_CACHED", "EdgeShares", "LogWindow", "count_statuses"]
