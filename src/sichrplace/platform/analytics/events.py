"""What the domains record for analytics: page views, searches and the booking journey's
steps, as plain tuples (the request path builds one and appends it, or counts a view;
nothing else)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, get_args

# The journey's steps, per listing: a conversation started (an enquiry), a viewing booked,
# its fee paid, a deposit part paid, a contract signed by both parties. journey_events holds
# the same closed set (a CHECK), and the rollups count them per listing and day.
JourneyKind = Literal[
    "enquiry", "viewing_booked", "viewing_paid", "deposit_paid", "contract_signed"
]
JOURNEY_KINDS: tuple[JourneyKind, ...] = get_args(JourneyKind)

# The kinds of event in the buffer (the metrics' `kind` label).
EventKind = Literal["view", "search", "journey"]
EVENT_KINDS: tuple[EventKind, ...] = get_args(EventKind)

CacheStatus = Literal["hit", "miss", "bypass"]


class View(NamedTuple):
    """A listing's detail read `times` times within one second by people who do not manage
    it (the buffer counts views per listing and second; a flush writes a row for each)."""

    at: float  # seconds since the epoch (time.time(): no datetime on the request path)
    listing_id: uuid.UUID
    times: int = 1


class Search(NamedTuple):
    """One search page answered: what was filtered on, how many items, how long it took."""

    at: float
    city_key: str | None  # the city filter (normalised), None without one
    filters: tuple[str, ...]  # the names of the filters used (not their values)
    sort: str
    results: int  # items on the page
    latency_ms: float  # from the handler's start to the body (cache or backend)
    cache: CacheStatus
    next_page: bool  # a cursor was given: a later page, not a new search


class Journey(NamedTuple):
    at: float
    kind: JourneyKind
    listing_id: uuid.UUID
    subject_id: uuid.UUID | None  # the conversation, viewing or contract


@dataclass(frozen=True, slots=True)
class Batch:
    """The events one flush writes (each list in the order recorded)."""

    views: list[View] = field(default_factory=list)
    searches: list[Search] = field(default_factory=list)
    journeys: list[Journey] = field(default_factory=list)

    def __len__(self) -> int:
        """The events in the batch (a view stands for `times` of them)."""
        return sum(self.counts().values())

    def counts(self) -> dict[EventKind, int]:
        return {
            "view": sum(v.times for v in self.views),
            "search": len(self.searches),
            "journey": len(self.journeys),
        }
