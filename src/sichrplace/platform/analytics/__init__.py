"""Recording analytics events: what the domains call, with no I/O on the request path.

    from sichrplace.platform import analytics

    analytics.record_view(listing_id)                       # the listing detail
    analytics.record_search(city_key=..., filters=..., ...) # a search page
    analytics.journey(session, "viewing_booked", listing_id=..., subject_id=viewing.id)

A record appends a tuple to the process's buffer (`buffer.EventBuffer`; a view is counted
per listing and second instead), which a background task writes to the raw tables in one
statement a second; `journey` appends only after the caller's transaction commits (a
rolled-back booking was never booked). The tables, the SQL, the rollups and the landlord's
statistics are the `sichrplace.analytics` domain's; the composition root builds each
process's buffer with that domain's writer and installs it here.

Why a process-wide buffer rather than a part passed along: the journey's steps happen deep in
services that run from requests, webhooks and jobs alike, and threading a recorder through
each of their signatures would change dozens of call sites for a side channel; like the
Prometheus registry (and the business counters next to it), the buffer is one per process.
Without an installed buffer (the CLI, the seeder, a unit test) recording does nothing.
Synthetic monitors' traffic is not recorded (platform/synthetic.py): a request marked
synthetic, or a journey step whose `parties` include a synthetic account.
"""

from __future__ import annotations

import uuid

from sichrplace.platform import synthetic
from sichrplace.platform.analytics.buffer import DROPPED, EventBuffer, Sink
from sichrplace.platform.analytics.events import (
    JOURNEY_KINDS,
    Batch,
    CacheStatus,
    Journey,
    JourneyKind,
    Search,
    View,
)
from sichrplace.platform.db.sessions import PrimarySession, on_commit

__all__ = [
    "DROPPED",
    "JOURNEY_KINDS",
    "Batch",
    "CacheStatus",
    "EventBuffer",
    "Journey",
    "JourneyKind",
    "Search",
    "Sink",
    "View",
    "current",
    "install",
    "journey",
    "record_search",
    "record_view",
    "uninstall",
]

# The buffers installed, the newest last (tests may run an app and a worker in one process).
_installed: list[EventBuffer] = []
_current: EventBuffer | None = None


def install(buffer: EventBuffer) -> None:
    """Make `buffer` the one the record functions append to (the composition root)."""
    global _current
    _installed.append(buffer)
    _current = buffer


def uninstall(buffer: EventBuffer) -> None:
    global _current
    if buffer in _installed:
        _installed.remove(buffer)
    _current = _installed[-1] if _installed else None


def current() -> EventBuffer | None:
    return _current


def record_view(listing_id: uuid.UUID) -> None:
    """A listing detail seen by someone who does not manage it (counted in a dict; never
    raises)."""
    buffer = _current
    if buffer is not None and not synthetic.active():
        buffer.view(listing_id)


def record_search(
    *,
    city_key: str | None,
    filters: tuple[str, ...],
    sort: str,
    results: int,
    latency_ms: float,
    cache: CacheStatus,
    next_page: bool,
) -> None:
    """A search page answered (a tuple appended; never raises)."""
    buffer = _current
    if buffer is not None and not synthetic.active():
        buffer.search(
            city_key=city_key,
            filters=filters,
            sort=sort,
            results=results,
            latency_ms=latency_ms,
            cache=cache,
            next_page=next_page,
        )


def journey(
    session: PrimarySession,
    kind: JourneyKind,
    *,
    listing_id: uuid.UUID,
    subject_id: uuid.UUID | None = None,
    parties: tuple[uuid.UUID | None, ...] = (),
) -> None:
    """A step of the journey, recorded once `session` commits (never if it rolls back);
    `parties`: the step's people (a synthetic one's step is not recorded)."""
    if synthetic.excluded(*parties):
        return

    async def record() -> None:
        buffer = _current
        if buffer is not None:
            buffer.journey(kind, listing_id, subject_id)

    on_commit(session, record)
