"""The composition root: every long-lived part of a process, built in one place.

`api_parts` builds what an API process holds for its lifetime (started in order, closed in
reverse), `worker_parts` what a job worker holds. Domains define their parts' types and keys
(`<domain>/parts.py`) and read them through `platform/http/dependencies.py` (requests) or
`platform/jobs/runtime.py` (jobs); only this module decides which implementation each one is
and how they are wired to each other (e.g. the listing detail's images from media).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis

from sichrplace.accounts.security import AUTH, build_auth_runtime
from sichrplace.analytics import service as analytics_service
from sichrplace.config import Settings
from sichrplace.contracts.charges import DepositSource
from sichrplace.integrations.cdn.fastly import FastlyPurger
from sichrplace.integrations.maps.google import GoogleGeocoder
from sichrplace.integrations.payments.paypal import PaypalProvider
from sichrplace.integrations.payments.stripe import StripeProvider
from sichrplace.integrations.payments.types import PaymentProvider
from sichrplace.kit import german
from sichrplace.listings.invalidation import ReadPath
from sichrplace.listings.page_views import PageViewBuffer
from sichrplace.listings.parts import LISTINGS, ListingsParts
from sichrplace.media import service as media_service
from sichrplace.media.parts import MEDIA, MediaParts
from sichrplace.media.storage import MediaStorage
from sichrplace.payments.parts import PAYMENTS, PaymentsParts
from sichrplace.platform import analytics, edge
from sichrplace.platform.bulkhead import Bulkhead
from sichrplace.platform.cache import Cache
from sichrplace.platform.db.engines import Database
from sichrplace.platform.edge.local import LocalEdgePurger, index_window_seconds
from sichrplace.platform.events.hub import EVENT_HUB, EventHub
from sichrplace.platform.observability.clients import instrument_engine, instrument_redis
from sichrplace.platform.parts import Parts
from sichrplace.platform.redis import make_redis
from sichrplace.search.backends.base import SearchBackend
from sichrplace.search.backends.index import IndexBackend
from sichrplace.search.backends.postgres import PostgresBackend
from sichrplace.search.index.keeper import FacetIndex
from sichrplace.search.parts import SEARCH, SearchParts
from sichrplace.search.plans.stats import PlanStats
from sichrplace.viewings import service as viewings_service
from sichrplace.viewings.charges import ViewingFeeSource


def _core(settings: Settings) -> Parts:
    db = Database(settings.db)
    redis = make_redis(settings.redis)
    instrument_engine(db.primary)
    instrument_engine(db.replica)
    instrument_redis(redis)
    parts = Parts(settings, db, redis, Cache(redis, settings.cache))
    # Closed last, in this order: the cache's tasks use Redis and the database.
    parts.on_close("redis", redis.aclose)
    parts.on_close("db", db.dispose)
    parts.on_close("cache", parts.cache.aclose)
    return parts


def _analytics(parts: Parts) -> None:
    """The process's analytics buffer, writing through the analytics domain's statement,
    installed for the record calls of every domain (platform/analytics); closed before the
    database, so its last flush still writes."""
    settings = parts.settings.analytics
    if not settings.enabled:
        return
    buffer = analytics.EventBuffer(
        analytics_service.writer(parts.db),
        interval=settings.flush_seconds,
        batch=settings.flush_batch,
        capacity=settings.buffer_capacity,
        timeout=settings.flush_timeout_seconds,
    )
    buffer.start()
    analytics.install(buffer)

    async def close() -> None:
        analytics.uninstall(buffer)
        await buffer.aclose()

    parts.on_close("analytics", close)


def edge_window_seconds(settings: Settings) -> int:
    """The local edge's index window (the purger's and the `edge` program's alike)."""
    cache = settings.cache
    return index_window_seconds(
        cache.http_max_age_seconds,
        cache.http_shared_max_age_seconds,
        cache.http_shared_max_age_slow_seconds,
    )


def _purgers(settings: Settings, redis: aioredis.Redis) -> edge.EdgePurges:
    """The edge purgers SICHRPLACE_EDGE_PURGERS names: the local edge's, Fastly's."""
    purgers: list[edge.Purger] = []
    for name in dict.fromkeys(settings.edge.purgers):
        if name == "local":
            purgers.append(
                LocalEdgePurger(
                    redis, settings.edge.cache_dir, window_seconds=edge_window_seconds(settings)
                )
            )
        else:
            purgers.append(FastlyPurger(settings.edge))
    return edge.EdgePurges(purgers)


@asynccontextmanager
async def edge_purges(settings: Settings) -> AsyncIterator[edge.EdgePurges]:
    """The purgers alone, for a purge by hand (`sichrplace edge purge`)."""
    redis = make_redis(settings.redis)
    purges = _purgers(settings, redis)
    try:
        yield purges
    finally:
        await purges.aclose()
        await redis.aclose()


def _edge(parts: Parts) -> None:
    """The process's edge purgers, installed for the listing changes of every domain
    (platform/edge); closed before Redis, so the purges in flight can end."""
    purges = _purgers(parts.settings, parts.redis)
    edge.install(purges)

    async def close() -> None:
        edge.uninstall(purges)
        await purges.aclose()

    parts.on_close("edge", close)


def _domains(parts: Parts, *, views: PageViewBuffer | None) -> None:
    """The parts both kinds of process have."""
    settings = parts.settings
    geocoder = GoogleGeocoder(settings.maps, redis=parts.redis)
    parts.on_close("geocoder", geocoder.aclose)
    media = parts.provide(MEDIA, MediaParts(settings.media, MediaStorage(settings.media)))
    read_path = ReadPath(
        cache=parts.cache,
        redis=parts.redis,
        settings=settings.cache,
        db=parts.db,
        extras=media_service.detail_images(media.settings, media.storage),
    )
    parts.provide(
        LISTINGS,
        ListingsParts(
            geocoder=geocoder,
            read_path=read_path,
            views=views,
            # A tenant with a confirmed viewing sees the exact address (viewings answers).
            confirmed_viewing=viewings_service.has_confirmed_viewing,
        ),
    )
    _payments(parts)


def _payments(parts: Parts) -> None:
    """Both providers (webhooks of either are accepted; new payments go to the configured
    one) and what each purpose charges for (payments imports neither viewings nor contracts)."""
    settings = parts.settings
    providers: dict[str, PaymentProvider] = {
        "stripe": StripeProvider(settings.payments, redis=parts.redis),
        "paypal": PaypalProvider(settings.payments, redis=parts.redis),
    }
    for name, provider in providers.items():
        parts.on_close(f"payments.{name}", provider.aclose)
    parts.provide(
        PAYMENTS,
        PaymentsParts(
            provider=providers[settings.payments.provider],
            providers=providers,
            sources={
                "viewing_fee": ViewingFeeSource(settings.payments, settings.viewings, parts.redis),
                "deposit": DepositSource(),
            },
            return_url=settings.app.public_base_url.rstrip("/") + settings.payments.return_path,
            currency=settings.payments.currency,
        ),
    )


@asynccontextmanager
async def api_parts(settings: Settings) -> AsyncIterator[Parts]:
    """An API process's parts, started and warmed; closed when the block ends."""
    parts = _core(settings)
    try:
        # Resolving the keys first makes a production process with a default or missing JWT
        # secret refuse to start (InsecureSecretError) instead of failing on first request.
        parts.provide(AUTH, build_auth_runtime(settings))
        parts.cache.start()
        views = PageViewBuffer(parts.redis, interval=settings.cache.view_buffer_seconds)
        views.start()
        parts.on_close("views", views.aclose)
        _analytics(parts)
        _edge(parts)
        _domains(parts, views=views)
        _event_hub(parts)
        await _search(parts)
        yield parts
    finally:
        await parts.aclose()


def _event_hub(parts: Parts) -> None:
    """The process's one Redis subscription for its event streams; it ends them when the
    process starts draining, so their clients reconnect elsewhere."""
    settings = parts.settings
    hub = EventHub(
        parts.db,
        settings.redis.url,
        settings.events,
        socket_timeout=max(1.0, settings.redis.socket_timeout_seconds),
        draining=lambda: parts.draining,
    )
    hub.start()
    parts.provide(EVENT_HUB, hub, close=hub.aclose)


async def _search(parts: Parts) -> None:
    settings = parts.settings
    plan_stats = PlanStats(parts.db, max_age_seconds=settings.cache.plan_stats_refresh_seconds)
    parts.on_close("plan_stats", plan_stats.aclose)
    await parts.db.check_replica()
    parts.db.start_monitor()
    # Before serving: without them a dense radius search takes the slow plan, and a fresh
    # instance under load sent every one of them that way until its first load finished.
    await plan_stats.warm(settings.cache.plan_stats_warm_seconds)
    # The German dictionary (kit/german.py, ADR 0008), off the event loop, before the first
    # search with words.
    await asyncio.to_thread(german.lexicon)
    bulkhead = Bulkhead(
        "facets",
        limit=settings.cache.facets_max_concurrent,
        max_wait_seconds=settings.cache.facets_max_wait_seconds,
    )
    postgres = PostgresBackend(plan_stats, bulkhead)
    backend: SearchBackend = postgres
    index = None
    if settings.search.backend == "index":
        # Loads in the background; Postgres answers until it is ready.
        index = FacetIndex(parts.db, settings.facet_index, parts.redis)
        index.start()
        parts.on_close("facet_index", index.aclose)
        backend = IndexBackend(index, postgres)
    parts.provide(
        SEARCH,
        SearchParts(
            backend=backend,
            plan_stats=plan_stats,
            facet_index=index,
            client_bypass=settings.cache.client_bypass,
        ),
    )


@asynccontextmanager
async def worker_parts(settings: Settings) -> AsyncIterator[Parts]:
    """A job worker's parts (no near cache listening, no page views, no search index)."""
    parts = _core(settings)
    try:
        _analytics(parts)  # journey steps recorded by jobs
        _edge(parts)  # listing changes made by jobs (geocoding, image variants)
        _domains(parts, views=None)
        yield parts
    finally:
        await parts.aclose()


@asynccontextmanager
async def edge_parts(settings: Settings) -> AsyncIterator[tuple[Parts, PageViewBuffer]]:
    """The `edge` program's parts: the views of answers the edge served from its cache are
    counted like the API's own (the page-view buffer and the analytics buffer)."""
    parts = _core(settings)
    try:
        views = PageViewBuffer(parts.redis, interval=settings.cache.view_buffer_seconds)
        views.start()
        parts.on_close("views", views.aclose)
        _analytics(parts)
        yield parts, views
    finally:
        await parts.aclose()
