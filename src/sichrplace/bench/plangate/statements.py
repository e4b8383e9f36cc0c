"""The hot statements the gate EXPLAINs, rendered by the code that issues them.

Nothing here is SQL text of its own: search statements come from the search repository's
builders (`pages`, `facets`), each plan variant the search service can pick named with its
flags (walk or collect a radius, text first or last); the others are captured from the
repository functions themselves, called with a recorder in place of the session (the first
statement they execute is taken, then the call is abandoned). Both are compiled the way the
application's driver gets them: SQLAlchemy's psycopg dialect, `%(name)s` placeholders, the
values bound by psycopg (not inlined), so Postgres plans them as it plans the application's.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

import psycopg
from sqlalchemy import ClauseElement, Executable
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.sql.compiler import SQLCompiler

from sichrplace.listings import repository as listings_repository
from sichrplace.media import repository as media_repository
from sichrplace.messaging import repository as messaging_repository
from sichrplace.search.params import filter_params, search_params, to_filters, to_query
from sichrplace.search.repository import facets, pages
from sichrplace.search.repository.where import Statement, clause
from sichrplace.viewings import repository as viewings_repository
from sichrplace.viewings.records import SlotRow

DIALECT = PGDialect_psycopg()  # type: ignore[no-untyped-call]
# The data set's clock: its slots, bookings and messages are placed around it, and the
# statements that take "now" are given it, so they plan the same on any day.
DATASET_NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
BERLIN = {"lat": 52.52, "lng": 13.405}


@dataclass(frozen=True, slots=True)
class Rendered:
    """A statement as the driver sends it: `%(name)s` placeholders and their values."""

    sql: str
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Anchors:
    """Rows of the data set the statements name, found by `find_anchors` with a fixed order,
    so equal data sets give equal parameters."""

    listing_id: uuid.UUID  # an active Berlin listing (detail)
    page_ids: bytes  # the newest 21 active listings, 16 bytes each (the index's page)
    slot: SlotRow  # a future slot without a live booking
    landlord_id: uuid.UUID  # the slot's listing's owner
    tenant_id: uuid.UUID  # a tenant with bookings and conversations
    conversation_id: uuid.UUID  # the longest conversation, its tenant `author_id`
    author_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class HotStatement:
    name: str  # stable: the baseline's key
    serves: str  # what a caller does to run it (the report's reader knows where to look)
    render: Callable[[Anchors], Rendered]


# --- rendering --------------------------------------------------------------------------------


def text_statement(statement: Statement) -> Rendered:
    """A search repository statement, compiled as ReplicaSession.fetch compiles it."""
    return Rendered(str(clause(statement.sql).compile(dialect=DIALECT)), dict(statement.params))


def compiled(statement: Executable, params: Mapping[str, Any] | None = None) -> Rendered:
    """A Core statement (or text() with its values) as SQLAlchemy hands it to psycopg:
    expanding IN lists rendered, values through the dialect's bind processors."""
    if not isinstance(statement, ClauseElement):
        raise TypeError(f"cannot compile {statement!r}")
    # Values given apart (text() with a dict) are passed on as they are, as SQLAlchemy does;
    # a Core statement holds its own, and its IN lists are expanded here, as at execution.
    expand = {} if params else {"render_postcompile": True}
    result = statement.compile(dialect=DIALECT, compile_kwargs=expand)
    assert isinstance(result, SQLCompiler)
    values = dict(result.construct_params(dict(params) if params else None))
    for key, process in result._bind_processors.items():
        if key in values and callable(process):
            values[key] = process(values[key])
    return Rendered(result.string, values)


class _Issued(Exception):
    def __init__(self, statement: Executable, params: Mapping[str, Any] | None) -> None:
        super().__init__("statement issued")
        self.statement, self.params = statement, params


class _Recorder:
    """Stands in for a session: the first statement executed ends the call."""

    async def execute(
        self, statement: Executable, params: Mapping[str, Any] | None = None
    ) -> NoReturn:
        raise _Issued(statement, params)


def first_statement(call: Callable[[Any], Coroutine[Any, Any, object]]) -> Rendered:
    """The first statement `call(session)` executes (no event loop: it raises at once)."""
    coroutine = call(_Recorder())
    try:
        coroutine.send(None)
    except _Issued as issued:
        return compiled(issued.statement, issued.params)
    except StopIteration:
        raise RuntimeError("the call executed no statement") from None
    finally:
        coroutine.close()
    raise RuntimeError("the call awaited something other than the session")


# --- search -----------------------------------------------------------------------------------


def _keyset(params: dict[str, Any], **flags: bool) -> Callable[[Anchors], Rendered]:
    def render(_: Anchors) -> Rendered:
        query = to_query(search_params(params))
        return text_statement(pages.keyset_statement(query, None, **flags))

    return render


def _distance(params: dict[str, Any]) -> Callable[[Anchors], Rendered]:
    def render(_: Anchors) -> Rendered:
        return text_statement(pages.distance_statement(to_query(search_params(params)), None))

    return render


def _relevance(params: dict[str, Any], *, text_direct: bool) -> Callable[[Anchors], Rendered]:
    def render(_: Anchors) -> Rendered:
        query = to_query(search_params(params))
        statement = pages.relevance_first_statement(
            query, limit=query.limit + 1, text_direct=text_direct
        )
        return text_statement(statement)

    return render


def _facets(params: dict[str, Any]) -> Callable[[Anchors], Rendered]:
    def render(_: Anchors) -> Rendered:
        return text_statement(facets.facets_statement(to_filters(filter_params(params))))

    return render


def _named_rows(a: Anchors) -> Rendered:
    filters = to_filters(filter_params({"city": "Berlin"}))
    return text_statement(pages.named_rows_statement(filters, a.page_ids))


_SEARCH = "GET /search/listings"
SEARCH: tuple[HotStatement, ...] = (
    HotStatement("search.newest.city", f"{_SEARCH}?city=Berlin", _keyset({"city": "Berlin"})),
    HotStatement("search.newest.everywhere", _SEARCH, _keyset({})),
    HotStatement("search.newest.postal_code", f"{_SEARCH}?postal_code=10437",
                 _keyset({"postal_code": "10437"})),
    HotStatement("search.newest.city_amenities", f"{_SEARCH}?city=Köln&amenities=balcony,elevator",
                 _keyset({"city": "Köln", "amenities": "balcony,elevator"})),
    HotStatement("search.newest.city_rent_range_collected",
                 f"{_SEARCH}?city=Berlin&max_rent=60000&min_rooms=3&furnished=true",
                 _keyset({"city": "Berlin", "max_rent": 60_000, "min_rooms": 3,
                          "furnished": "true"}, collect=True)),
    HotStatement("search.rent_asc.city_rent_rooms",
                 f"{_SEARCH}?city=Berlin&max_rent=120000&min_rooms=2&sort=rent_asc",
                 _keyset({"city": "Berlin", "max_rent": 120_000, "min_rooms": 2,
                          "sort": "rent_asc"})),
    HotStatement("search.newest.radius_collected", f"{_SEARCH}?lat&lng&radius_km=1",
                 _keyset({**BERLIN, "radius_km": 1}, radius_via_index=True)),
    HotStatement("search.newest.radius_walked", f"{_SEARCH}?lat&lng&radius_km=5",
                 _keyset({**BERLIN, "radius_km": 5}, radius_via_index=False)),
    HotStatement("search.distance.radius", f"{_SEARCH}?lat&lng&radius_km=3&sort=distance",
                 _distance({**BERLIN, "radius_km": 3, "sort": "distance"})),
    HotStatement("search.newest.bbox", f"{_SEARCH}?bbox=9.95,53.54,10.02,53.57",
                 _keyset({"bbox": "9.95,53.54,10.02,53.57"})),
    HotStatement("search.relevance.text", f"{_SEARCH}?q=Balkon",
                 _relevance({"q": "Balkon"}, text_direct=False)),
    HotStatement("search.relevance.text_city", f"{_SEARCH}?q=Einbauküche&city=Hamburg",
                 _relevance({"q": "Einbauküche", "city": "Hamburg"}, text_direct=False)),
    HotStatement("search.relevance.text_last",
                 f"{_SEARCH}?q=Einbauküche&city=Berlin&min_rooms=3&max_rent=60000&rent_type=cold",
                 _relevance({"q": "Einbauküche", "city": "Berlin", "min_rooms": 3,
                             "max_rent": 60_000, "rent_type": "cold"}, text_direct=False)),
    HotStatement("search.relevance.text_first", f"{_SEARCH}?q=Stellplatz&city=Berlin&min_rooms=3",
                 _relevance({"q": "Stellplatz", "city": "Berlin", "min_rooms": 3},
                            text_direct=True)),
    HotStatement("search.page_of_the_index", f"{_SEARCH} (the in-process index's page, by id)",
                 _named_rows),
    HotStatement("facets.city", "GET /search/facets?city=Berlin", _facets({"city": "Berlin"})),
    HotStatement("facets.city_rent_rooms",
                 "GET /search/facets?city=Hamburg&max_rent=150000&min_rooms=2",
                 _facets({"city": "Hamburg", "max_rent": 150_000, "min_rooms": 2})),
    HotStatement("facets.radius", "GET /search/facets?lat&lng&radius_km=3",
                 _facets({**BERLIN, "radius_km": 3})),
)  # fmt: skip


# --- detail, booking, messages ----------------------------------------------------------------


def _detail(a: Anchors) -> Rendered:
    return first_statement(lambda s: listings_repository.get_listing(s, a.listing_id))


def _images(a: Anchors) -> Rendered:
    return first_statement(lambda s: media_repository.images_for_listings(s, [a.listing_id]))


def _free_slots(a: Anchors) -> Rendered:
    return first_statement(
        lambda s: viewings_repository.free_slots(
            s, a.slot.listing_id, after=DATASET_NOW, before=None, limit=100
        )
    )


def _slot_lock(a: Anchors) -> Rendered:
    return first_statement(lambda s: viewings_repository.bookable_slot(s, a.slot.id))


def _book(a: Anchors) -> Rendered:
    return first_statement(
        lambda s: viewings_repository.insert_viewing(
            s,
            slot=a.slot,
            tenant_id=a.tenant_id,
            landlord_id=a.landlord_id,
            message="Ich würde die Wohnung gern besichtigen.",
            expires_at=DATASET_NOW,
        )
    )


def _my_viewings(a: Anchors) -> Rendered:
    return first_statement(
        lambda s: viewings_repository.list_viewings(
            s, a.tenant_id, as_party="tenant", after=None, limit=21
        )
    )


def _send(a: Anchors) -> Rendered:
    return first_statement(
        lambda s: messaging_repository.send_message(
            s,
            conversation_id=a.conversation_id,
            author_id=a.author_id,
            body="Ist die Wohnung noch frei?",
            client_message_id="plan-gate-1",
            now=DATASET_NOW,
        )
    )


def _message_page(a: Anchors) -> Rendered:
    return first_statement(
        lambda s: messaging_repository.message_page(s, a.conversation_id, before=None, limit=50)
    )


def _conversations(a: Anchors) -> Rendered:
    return first_statement(
        lambda s: messaging_repository.list_conversations(
            s, a.author_id, archived=False, after=None, limit=21
        )
    )


OTHERS: tuple[HotStatement, ...] = (
    HotStatement("detail.listing", "GET /listings/{id} (cache miss)", _detail),
    HotStatement("detail.images", "GET /listings/{id} (cache miss): its images", _images),
    HotStatement("booking.free_slots", "GET /listings/{id}/slots", _free_slots),
    HotStatement("booking.slot_lock", "POST /viewings: the slot, FOR SHARE", _slot_lock),
    HotStatement("booking.insert", "POST /viewings: the booking (ux_viewings_live_slot)", _book),
    HotStatement("booking.my_viewings", "GET /viewings?as=tenant", _my_viewings),
    HotStatement("messages.send", "POST /conversations/{id}/messages", _send),
    HotStatement("messages.page", "GET /conversations/{id}/messages", _message_page),
    HotStatement("messages.conversations", "GET /conversations", _conversations),
)

HOT_STATEMENTS: tuple[HotStatement, ...] = SEARCH + OTHERS


# --- anchors ----------------------------------------------------------------------------------

_ANCHORS = """
WITH slot AS (
    SELECT s.id, s.listing_id, s.starts_at, s.ends_at, s.created_at FROM viewing_slots s
    WHERE s.deleted_at IS NULL AND s.starts_at > %(now)s
      AND NOT EXISTS (SELECT 1 FROM viewings v WHERE v.slot_id = s.id
                      AND v.status IN ('pending_payment', 'confirmed', 'completed'))
    ORDER BY s.id LIMIT 1
), talk AS (
    SELECT c.id, c.tenant_id FROM conversations c ORDER BY c.last_seq DESC, c.id LIMIT 1
)
SELECT (SELECT l.id FROM listings l WHERE l.status = 'active' AND l.city_key = 'berlin'
        ORDER BY l.id LIMIT 1),
       (SELECT array_agg(p.id) FROM (SELECT l.id FROM listings l WHERE l.status = 'active'
        ORDER BY l.created_at DESC, l.id DESC LIMIT 21) p),
       slot.id, slot.listing_id, slot.starts_at, slot.ends_at, slot.created_at,
       (SELECT l.owner_id FROM listings l WHERE l.id = slot.listing_id),
       (SELECT v.tenant_id FROM viewings v ORDER BY v.tenant_id LIMIT 1),
       talk.id, talk.tenant_id
FROM slot, talk
"""


def find_anchors(conn: psycopg.Connection[Any]) -> Anchors:
    """The rows the statements name, from the seeded data set (see dataset.py)."""
    row = conn.execute(_ANCHORS, {"now": DATASET_NOW}).fetchone()
    if row is None or row[0] is None:
        raise RuntimeError("the plan data set has no slots, conversations or listings")
    listing, page, slot_id, slot_listing, starts, ends, created, *people = row
    landlord, tenant, talk, author = people
    return Anchors(
        listing_id=listing,
        page_ids=b"".join(i.bytes for i in page),
        slot=SlotRow(slot_id, slot_listing, starts, ends, created_at=created, deleted_at=None),
        landlord_id=landlord,
        tenant_id=tenant,
        conversation_id=talk,
        author_id=author,
    )
