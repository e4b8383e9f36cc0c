"""`sichrplace seed`: demo accounts and listings, and bulk listings by COPY."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import structlog
import typer

from sichrplace.config import Settings, get_settings

app = typer.Typer(no_args_is_help=True, help="Seed data (COPY straight into the primary).")


async def _bump_search_caches(settings: Settings) -> None:
    """Rows written behind the API's back: drop cached search results so they show up now,
    and count the places the search box suggests again."""
    from sichrplace.platform.cache import Cache
    from sichrplace.platform.redis import make_redis
    from sichrplace.search.suggest.service import refresh_after_load

    await refresh_after_load(settings.db)
    redis = make_redis(settings.redis)
    try:
        cache = Cache(redis, settings.cache)
        for domain in ("search", "facets", "popular", "suggest"):
            await cache.bump(domain)
        await cache.aclose()
    finally:
        await redis.aclose()


def bump_caches(settings: Settings) -> None:
    try:
        asyncio.run(_bump_search_caches(settings))
    except Exception as exc:  # the cache fails open; stale entries expire with their TTL
        typer.echo(f"note: could not invalidate cached search results: {exc}", err=True)


def _journey(settings: Settings, user_ids: dict[str, uuid.UUID]) -> list[str]:
    """The booking journey's lines to print (a note instead when it cannot be seeded: the
    rest of the demo data stands without it)."""
    from sichrplace.seeding.demo import JOURNEY_LANDLORD, JOURNEY_TENANT
    from sichrplace.seeding.journey import Cast, seed_journey
    from sichrplace.seeding.journey_summary import summary

    cast = Cast(landlord=user_ids[JOURNEY_LANDLORD], tenant=user_ids[JOURNEY_TENANT])
    # The parts it builds warn about the development secrets the local stack runs with: only
    # errors would tell the reader something here.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    try:
        report = asyncio.run(seed_journey(settings, cast))
    except Exception as exc:
        typer.echo(f"note: the booking journey was not seeded: {exc!r}", err=True)
        return []
    return summary(
        report,
        landlord=JOURNEY_LANDLORD,
        tenant=JOURNEY_TENANT,
        base_url=settings.app.public_base_url.rstrip("/"),
        timezone=settings.viewings.timezone,
    )


@app.command()
def demo(
    listings: int = typer.Option(3000, min=0, help="Listings owned by the demo landlords."),
    bookings: bool = typer.Option(
        True, help="The booking journey: slots, a viewing in each state, a contract."
    ),
) -> None:
    """Demo landlords and tenants with known passwords, listings across German cities, and the
    booking journey (paid through the stack's fake Stripe)."""
    from sichrplace.seeding.demo import DEMO_USERS, seed_demo

    settings = get_settings()
    started = time.perf_counter()
    report = seed_demo(settings, listings=listings)
    journey = _journey(settings, report.user_ids) if bookings else []
    bump_caches(settings)
    typer.echo(
        f"demo: {report.users_created} users created, {report.listings_created} listings "
        f"created ({report.listings_total} demo listings) in {time.perf_counter() - started:.1f} s"
    )
    typer.echo("log in with (POST /api/v1/auth/login):")
    for user in DEMO_USERS:
        typer.echo(f"  {user.role:8s} {user.email:40s} {user.password}")
    for line in journey:
        typer.echo(line)


@app.command("listings")
def listings_command(
    count: int = typer.Option(..., "--count", "-n", min=1, help="Listings to add."),
    owners: int = typer.Option(300, min=1, help="Seed landlords to own them (created by COPY)."),
    workers: int = typer.Option(2, min=1, max=16, help="Parallel COPY streams."),
    seed: int | None = typer.Option(None, help="Random seed (default: random)."),
) -> None:
    """Add COUNT generated listings with COPY (indexes rebuilt around big loads, then ANALYZE)."""
    from sichrplace.seeding import loader

    settings = get_settings()
    started = time.perf_counter()
    report = loader.load(
        settings.db.direct_dsn,
        count=count,
        owners=owners,
        password_hash=loader.unusable_password_hash(settings),
        workers=workers,
        seed=seed,
        progress=typer.echo,
    )
    bump_caches(settings)
    typer.echo(
        f"seeded {report.listings} listings ({report.owners_created} new owners) in "
        f"{time.perf_counter() - started:.1f} s: {report.timings}"
    )
