"""The keeper of one process's in-process index: it loads the active listings, follows their
changes, reloads, and answers counts and pages (ADR 0004).

- **Full load**: every active listing as a record (search/index/layout.py), read in chunks of
  ids with a timeout that fits each chunk's size. Before the new snapshot replaces the old
  one, which keeps answering meanwhile, it gets the postings of the words in use and catches
  up with the changes made during the load: a reload (hourly, at a time spread over the
  processes, or after many changes) sends no request to Postgres and makes none wait.
- **Changes**: before a count, the index reads which listings changed since its last look
  (search/repository/index_feed.py: by transaction id, so a transaction that commits long
  after it wrote, and clocks that disagree, lose nothing). A changed listing's base row stops
  counting and its current version counts from a small second segment. A count sees every
  change the replica had replayed when the request arrived (or a look begun at most
  `max_staleness_seconds` before it); requests arriving together share one look.
- **Full text** in the index: words.py.
- Counts and pages run on the event loop in steps (search/index/query.py), yielding between
  them, so none holds the loop for more than a few milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, TypeVar

import numpy as np
import redis.asyncio as aioredis
import structlog

from sichrplace.config import FacetIndexSettings
from sichrplace.kit.memory import release_free_memory
from sichrplace.kit.tasks import stop_task
from sichrplace.platform.db.engines import Database
from sichrplace.platform.db.sessions import ReplicaSession
from sichrplace.platform.observability import tracing
from sichrplace.search.index import query
from sichrplace.search.index.errors import Unsupported
from sichrplace.search.index.layout import RECORD
from sichrplace.search.index.query import Hit, PageKey, Steps
from sichrplace.search.index.snapshot import Change, Group, Snapshot, build_base, with_changes
from sichrplace.search.index.words import WORDS_KEY, Words
from sichrplace.search.metrics import (
    FACET_INDEX_AGE,
    FACET_INDEX_BYTES,
    FACET_INDEX_CHANGES,
    FACET_INDEX_LOADS,
    FACET_INDEX_ROWS,
)
from sichrplace.search.plans.words import WordStats
from sichrplace.search.repository import index_feed, stats
from sichrplace.search.schemas import FacetRow, SearchFilters, SearchQuery

log = structlog.get_logger(__name__)

T = TypeVar("T")
GONE = Change("deleted", ("", ""), b"", (), index_feed.DELETED_STAMP)
CATCH_UP_LOOKS = 3  # looks a new snapshot takes before it answers, while changes keep coming
RETRY_LOAD_SECONDS = 10.0  # after a failed load that was needed (none yet, or too many changes)


class _Overrun(Exception):
    """More changes since the load than are worth following: only a reload helps."""


def unknown(
    snap: Snapshot, changes: dict[bytes, int], seen: list[tuple[uuid.UUID, int]]
) -> list[uuid.UUID]:
    """The listings among `seen` (id, version) whose version the index does not hold: not the
    base row's (the full load may have read it already) nor the last change applied."""
    out: list[uuid.UUID] = []
    unchanged: list[tuple[uuid.UUID, int]] = []
    latest: dict[uuid.UUID, int] = {}
    for listing_id, stamp in seen:  # deleted and inserted again: the row's stamp wins
        latest[listing_id] = max(latest.get(listing_id, stamp), stamp)
    for listing_id, stamp in latest.items():
        known = changes.get(listing_id.bytes)
        if known is None:
            unchanged.append((listing_id, stamp))
        elif known != stamp:
            out.append(listing_id)
    if unchanged:
        ids = np.asarray([i.bytes for i, _ in unchanged], dtype="S16")
        at = snap.base_position(ids)
        stamps = np.asarray([s for _, s in unchanged], dtype=np.int64)
        held = np.zeros(len(unchanged), dtype=bool)
        if len(snap.base):
            held = (at >= 0) & (snap.base["stamp"][np.maximum(at, 0)] == stamps)
        # A tombstone of a listing the index never held: nothing to retire.
        held |= (at < 0) & (stamps == index_feed.DELETED_STAMP)
        out.extend(i for (i, _), h in zip(unchanged, held.tolist(), strict=True) if not h)
    return out


@dataclass
class _State:
    snap: Snapshot | None = None
    # id -> version of each listing changed since the load (their data is in the snapshot)
    changes: dict[bytes, int] = field(default_factory=dict)
    seen_xmin: int | None = None  # the horizon of the last look (index_feed)
    loaded_at: float = 0.0  # monotonic
    reload_after: float = 0.0  # seconds after loaded_at (spread over the processes)


async def _steps(steps: Steps[T]) -> T:
    """Drive `steps`, handing the event loop to others between them."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        await asyncio.sleep(0)


_LIVE: list[FacetIndex] = []


def _age_of_oldest_live() -> float:
    """The age the gauge reports: of the process's index (the oldest one started and not
    closed, where tests or tools start more than one)."""
    return _LIVE[0].age_seconds() if _LIVE else float("nan")


# Read when Prometheus scrapes: the age grows between looks without anyone setting it.
FACET_INDEX_AGE.set_function(_age_of_oldest_live)


class FacetIndex:
    """One process's in-process index: load, follow changes, count, page (module docstring)."""

    def __init__(
        self,
        db: Database,
        settings: FacetIndexSettings,
        redis: aioredis.Redis | None = None,
        *,
        words_key: str = WORDS_KEY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._clock = clock  # monotonic seconds: load ages and how fresh looks are
        self._settings = settings
        self._state = _State()
        self._words = Words(db, settings, redis, words_key, lambda: self._state.snap)
        self._load_task: asyncio.Task[None] | None = None
        self._look_task: asyncio.Task[None] | None = None
        # Monotonic times: when the look under way began, and when the snapshot's last look
        # (or its load) began, i.e. what it is as fresh as.
        self._look_began = 0.0
        self._fresh_as_of = 0.0
        self._tick_task: asyncio.Task[None] | None = None
        # Where the last look for changes read (the replica, or the primary when the replica
        # is down or lagging): what a count is as fresh as.
        self.last_target: Literal["replica", "primary"] | None = None
        self.generation = 0  # full loads completed
        # Too many changes to follow since the answering snapshot's load: Postgres answers
        # until the next load is in place.
        self._overrun = False
        self._load_failed_at: float | None = None  # monotonic, the last failed load

    @property
    def enabled(self) -> bool:
        return self._settings.enabled

    def start(self) -> None:
        """Start the first full load in the background (Postgres answers until then), and the
        looks for changes between requests (a bulk import is noticed within seconds)."""
        if self.enabled:
            _LIVE.append(self)
            self._start_load()
            self._tick_task = asyncio.create_task(self._tick(), name="facet-index-tick")

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self._settings.look_interval_seconds)
            with contextlib.suppress(Exception):  # logged by current(); the next tick retries
                await self.current(max_staleness=0.0)

    def age_seconds(self) -> float:
        """How old the answering snapshot's view of the listings is; NaN before the first load."""
        if self._state.snap is None:
            return float("nan")
        return max(0.0, self._clock() - self._fresh_as_of)

    @property
    def ready(self) -> bool:
        return self._state.snap is not None

    @property
    def reloading(self) -> bool:
        return self._load_task is not None and not self._load_task.done()

    @property
    def words_loaded(self) -> frozenset[str]:
        """The lexemes whose postings this process holds."""
        snap = self._state.snap
        return frozenset(snap.postings) if snap is not None else frozenset()

    def _start_load(self, delay: float = 0.0) -> None:
        if self._load_task is None or self._load_task.done():
            self._load_task = asyncio.create_task(self._load(delay), name="facet-index-load")

    def reload_after(self) -> float:
        """A load's age at which the next reload starts: `reload_seconds`, spread by up to
        `reload_spread` of it either way, so the processes do not all reload at once."""
        spread = self._settings.reload_spread
        return self._settings.reload_seconds * (1 + random.uniform(-spread, spread))

    async def _load(self, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        started = self._clock()
        previous = self._state.snap
        try:
            snap, xmin = await self._read_all()
            in_use = await self._words.in_use(previous)
            await self._words.add(snap, [w for w in in_use if self._words.common(snap, w)])
            state = _State(snap, {}, xmin, self._clock(), self.reload_after())
            fresh_as_of, overrun = started, False
            for _ in range(CATCH_UP_LOOKS):  # the changes made while it loaded
                began = self._clock()
                try:
                    state, new = await self._advance(state)
                except _Overrun:  # an import still under way: load again right away
                    overrun = True
                    break
                fresh_as_of = began
                if not new:
                    break
        except Exception as exc:
            FACET_INDEX_LOADS.labels("failed").inc()
            log.warning("facet_index_load_failed", error=repr(exc)[:200])
            self._load_failed_at = self._clock()
            return
        self._load_failed_at = None
        self._state = state
        self._fresh_as_of = fresh_as_of
        self._overrun = overrun
        self.generation += 1
        if overrun:
            self._start_load_after(self._load_task)
        del previous  # the old snapshot's arrays go once in-flight requests are done with it
        await asyncio.to_thread(release_free_memory)
        FACET_INDEX_LOADS.labels("ok").inc()
        FACET_INDEX_ROWS.set(len(snap.base))
        FACET_INDEX_BYTES.set(snap.nbytes())
        log.info(
            "facet_index_loaded",
            listings=len(snap.base),
            cities=len(snap.key_slices),
            words=len(snap.postings),
            changes=len(state.changes),
            seconds=round(self._clock() - started, 2),
        )

    async def _read_all(self) -> tuple[Snapshot, int]:
        """Every active listing, in chunks; the horizon taken before the first chunk."""
        session = ReplicaSession(self._db)
        # The horizon first: whatever commits after it is read as a change.
        xmin, estimate = await index_feed.fetch_horizon(session)
        words = WordStats.from_row(*await stats.fetch_word_stats(session)).words
        groups: list[Group] = []
        bounds = index_feed.chunk_bounds(estimate)
        timeout = index_feed.load_timeout_ms(estimate)
        for low, high in bounds:
            rows = await index_feed.fetch_load_chunk(session, low, high, timeout)
            groups += [
                (k, c, bytes(b or b""), bytes(t or b""), bytes(n or b"")) for k, c, b, t, n in rows
            ]
        return await asyncio.to_thread(build_base, groups, words), xmin

    def _start_load_after(self, task: asyncio.Task[None] | None) -> None:
        """Another load once `task` (the load that is finishing) is done."""
        if task is None:
            self._start_load()
        else:
            task.add_done_callback(lambda _: self._start_load())

    async def _advance(self, state: _State) -> tuple[_State, int]:
        """`state` with the changes since its last look applied, and how many there were:
        which listings changed (id and version), then the records of those not known in that
        version. Raises _Overrun, before reading any record, when they would be more than
        `max_changes_while_reloading` since the load."""
        snap = state.snap
        assert snap is not None
        assert state.seen_xmin is not None
        session = ReplicaSession(self._db)
        cap = self._settings.max_changes_while_reloading
        rows = await index_feed.fetch_changed(session, state.seen_xmin, cap + 1)
        self.last_target = session.last_target
        if len(rows) > cap:
            raise _Overrun()  # a bulk import: not worth reading each of them
        xmin = int(rows[0][0])
        new = unknown(snap, state.changes, [(r[1], r[2]) for r in rows if r[1] is not None])
        if not new:
            return _State(snap, state.changes, xmin, state.loaded_at, state.reload_after), 0
        if len(state.changes) + len(new) > self._settings.max_changes_while_reloading:
            raise _Overrun()
        records = await index_feed.fetch_changed_rows(session, new)
        # A listing asked for and not found was deleted outright (tombstone): it retires.
        fresh = {i.bytes: GONE for i in new}
        for listing_id, status, key, city, record, lexemes, title in records:
            raw = bytes(record)
            stamp = int(np.frombuffer(raw, dtype=RECORD)["stamp"][0])
            fresh[listing_id.bytes] = Change(
                status, (key, city), raw, tuple(sys.intern(w) for w in lexemes), stamp, title
            )
        merged = {**state.changes, **{i: c.stamp for i, c in fresh.items()}}
        snap = await asyncio.to_thread(with_changes, snap, fresh)
        FACET_INDEX_CHANGES.inc(len(fresh))
        return _State(snap, merged, xmin, state.loaded_at, state.reload_after), len(fresh)

    async def _look(self, began: float) -> None:
        """Apply the changes since the last look to the answering snapshot. `began`: when it
        was asked for (monotonic), before it reads anything."""
        with tracing.span("index.look"):
            await self._look_now(began)

    async def _look_now(self, began: float) -> None:
        state = self._state
        if state.snap is None or state.seen_xmin is None:
            raise Unsupported("not loaded")
        try:
            advanced, _ = await self._advance(state)
        except _Overrun:
            if self._state is state:
                self._overrun = True
                self._reload_after_changes(self._settings.max_changes_while_reloading + 1)
                await asyncio.to_thread(release_free_memory)  # what reading them held
            raise Unsupported("reloading") from None
        if self._state is not state:  # a full load finished meanwhile: it is newer
            return
        self._state = advanced
        self._fresh_as_of = max(self._fresh_as_of, began)
        if len(advanced.changes) > self._settings.max_changes:
            self._reload_after_changes(len(advanced.changes))

    def _reload_after_changes(self, changes: int) -> None:
        """A bulk import: load everything again rather than carry a second copy of the table.
        The current snapshot keeps answering (with its changes) until the new one is ready,
        up to `max_changes_while_reloading` changes, past which following them costs more
        than it saves (then Postgres answers)."""
        if not self.reloading:
            log.info("facet_index_reload_after_changes", changes=changes)
            self._start_load(random.uniform(0, self._settings.reload_after_changes_spread))

    async def current(self, max_staleness: float | None = None) -> Snapshot:
        """The snapshot, with the changes of a look for them that began at most `max_staleness`
        (default: `max_staleness_seconds`) before this call, waiting for one if need be; calls
        that arrive together share it. Raises Unsupported when not loaded."""
        arrived = self._clock()
        state = self._state
        if state.snap is None or self._overrun:
            # The load it waits for; again after a failed one, a while later.
            failed = self._load_failed_at
            if failed is None or arrived - failed >= RETRY_LOAD_SECONDS:
                self._start_load()
            raise Unsupported("not loaded" if state.snap is None else "reloading")
        if arrived - state.loaded_at > state.reload_after:
            self._start_load()  # the current snapshot serves until the new one is ready
        if max_staleness is None:
            max_staleness = self._settings.max_staleness_seconds
        oldest = arrived - max_staleness
        while self._fresh_as_of < oldest:
            task = self._look_task
            if task is None or task.done():
                self._look_began = self._clock()
                task = asyncio.create_task(self._look(self._look_began), name="facet-index-look")
                self._look_task = task
            elif self._look_began < oldest:
                # Under way, but begun too early for this call: wait for it, then look again.
                with contextlib.suppress(Exception):
                    await asyncio.shield(task)
                continue
            try:
                await asyncio.shield(task)
            except Unsupported:
                raise
            except Exception as exc:
                log.warning("facet_index_look_failed", error=repr(exc)[:200])
                raise Unsupported("look failed") from exc
        snap = self._state.snap
        if snap is None:
            raise Unsupported("reloading")
        return snap

    async def count(self, session: ReplicaSession, f: SearchFilters) -> list[FacetRow]:
        """Facet rows for `f`, with the changes of a look begun at most max_staleness_seconds
        before this call; Unsupported if the index cannot. `session.last_target` is set to
        where that look read."""
        if not self.enabled:
            raise Unsupported("disabled")
        snap, lexemes, postings = await self._prepare(session, f)
        target = self.last_target
        rows = await _steps(query.count(snap, f, lexemes, postings))
        session.last_target = target
        return rows

    async def page(
        self, session: ReplicaSession, search: SearchQuery, after: PageKey | None
    ) -> tuple[Snapshot, list[Hit]]:
        """The listings on a newest or rent-sorted search page, limit + 1 of them, as fresh as
        `count`'s, and the snapshot they are from; Unsupported if the index cannot.
        `session.last_target` is set to where the look read."""
        f = search.filters
        if not self.enabled or search.sort not in ("newest", "rent_asc", "rent_desc"):
            raise Unsupported("sort")
        snap, lexemes, postings = await self._prepare(session, f)
        target = self.last_target
        steps = query.page(snap, f, search.sort, after, search.limit + 1, lexemes, postings)
        hits = await _steps(steps)
        session.last_target = target
        return snap, hits

    async def _prepare(
        self, session: ReplicaSession, f: SearchFilters
    ) -> tuple[Snapshot, tuple[str, ...], list[np.ndarray]]:
        """The current snapshot and the full text's lexemes and postings, for `f`."""
        if session.force_primary:
            # Read-your-writes: the author's own change may not have replayed on the replica
            # the index looks at; Postgres answers on the primary.
            raise Unsupported("pinned to the primary")
        if f.district_key is not None:
            raise Unsupported("district")  # not in the records (ADR 0008): Postgres answers
        snap = await self.current()
        if f.q is None:
            return snap, (), []
        lexemes, postings = await self._words.of(session, snap, f.q)
        return snap, lexemes, postings

    async def aclose(self) -> None:
        for task in (self._tick_task, self._load_task, self._look_task):
            await stop_task(task)
        await self._words.aclose()
        if self in _LIVE:
            _LIVE.remove(self)
