"""The `edge` program of the local stack (`sichrplace edge run`, under supervisord): what the
edge's own logs tell the platform, as a CDN's log streaming would.

- Views: an anonymous listing detail answered from the cache never reaches the API, which
  counts the views it answers. nginx logs such answers (`edge-views.log`, HIT, STALE or
  UPDATING of a GET, not a synthetic monitor's); this program counts each of them through
  the API's own path, the page-view buffer (`listings/page_views.py`, added to Redis once a
  second) and the analytics recorder (`platform/analytics`, written once a second). A miss,
  a bypass or a revalidation reached the API and was counted there: no view counts twice.
- The purge index: nginx logs each answer it stores with its surrogate keys
  (`edge-fill.log`); they go into the index in Redis (`platform/edge/local.py`), and a fill
  that a purge may have missed is deleted at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from dataclasses import dataclass, field

import orjson
import structlog

from sichrplace.composition import edge_parts, edge_window_seconds
from sichrplace.config import Settings
from sichrplace.listings.page_views import PageViewBuffer
from sichrplace.platform import analytics
from sichrplace.platform.edge.local import Fill, LocalEdgePurger, index_fills, key_hash
from sichrplace.stack.edge.conf import FILL_LOG, VIEW_LOG
from sichrplace.stack.edge.tail import LogFollower
from sichrplace.stack.layout import Layout

log = structlog.get_logger(__name__)

_DETAIL = re.compile(rb"^/api/v1/listings/([0-9a-fA-F-]{36})$")
_REPORT_SECONDS = 60.0


def parse_view(line: bytes) -> uuid.UUID | None:
    """The listing of an `edge_view` line (`$msec $uri`), None for anything else."""
    _, _, path = line.strip().partition(b" ")
    found = _DETAIL.match(path)
    if found is None:
        return None
    try:
        return uuid.UUID(found.group(1).decode())
    except ValueError:
        return None


def parse_fill(line: bytes) -> Fill | None:
    """A stored answer from an `edge_fill` line (JSON), None for a line without keys."""
    try:
        entry = orjson.loads(line)
        keys = tuple(str(entry["keys"]).split())
        started_ms = int((float(entry["msec"]) - float(entry["request_time"])) * 1000)
        key = str(entry["key"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    if not keys:
        return None
    return Fill(key_hash(key), started_ms, keys)


@dataclass
class Totals:
    views: int = 0
    fills: int = 0
    late: int = 0  # fills deleted because a purge began after their request
    since: float = field(default_factory=time.monotonic)


class EdgeProgram:
    """One pass reads both logs and acts on them (`step`); `run` repeats it."""

    def __init__(
        self,
        settings: Settings,
        layout: Layout,
        views: PageViewBuffer,
        purger: LocalEdgePurger,
    ) -> None:
        self._views = views
        self._purger = purger
        self._window = edge_window_seconds(settings)
        self.view_log = LogFollower(layout.logs / VIEW_LOG, layout.nginx / "edge-views.pos")
        self.fill_log = LogFollower(layout.logs / FILL_LOG, layout.nginx / "edge-fill.pos")
        self.totals = Totals()

    async def step(self) -> int:
        """Count the new views and index the new fills; how many lines were read."""
        seen = self.view_log.read_lines()
        for line in seen:
            listing = parse_view(line)
            if listing is not None:
                self._views.add(listing)  # added to Redis with the second's others
                analytics.record_view(listing)
                self.totals.views += 1
        stored = self.fill_log.read_lines()
        fills = [fill for fill in map(parse_fill, stored) if fill is not None]
        if fills:
            late = await index_fills(self._purger.redis, fills, window_seconds=self._window)
            if late:
                await self._purger.remove(late)
            self.totals.fills += len(fills)
            self.totals.late += len(late)
        return len(seen) + len(stored)

    def report(self) -> None:
        t = self.totals
        if time.monotonic() - t.since < _REPORT_SECONDS:
            return
        if t.views or t.fills:
            log.info("edge_logs_read", views=t.views, fills=t.fills, late_fills_deleted=t.late)
        self.totals = Totals()

    def close(self) -> None:
        self.view_log.close()
        self.fill_log.close()


async def run(
    settings: Settings,
    layout: Layout,
    *,
    poll_seconds: float = 0.05,
    stop: asyncio.Event | None = None,
) -> None:
    """Until `stop` is set (or the process is stopped): read the logs every `poll_seconds`
    (a fill is indexed within about that, a view counted within a second after)."""
    stop = stop or asyncio.Event()
    async with edge_parts(settings) as (parts, views):
        purger = LocalEdgePurger(
            parts.redis, settings.edge.cache_dir, window_seconds=edge_window_seconds(settings)
        )
        program = EdgeProgram(settings, layout, views, purger)
        log.info("edge_program_started", logs=str(layout.logs))
        try:
            while not stop.is_set():
                try:
                    read = await program.step()
                except Exception as exc:  # Redis away: the lines are lost, the program lives
                    log.warning("edge_logs_failed", error=repr(exc)[:200])
                    read = 0
                program.report()
                if not read:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), poll_seconds)
        finally:
            program.close()
