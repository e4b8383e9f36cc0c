"""pg_partman keeps the raw analytics tables in daily partitions: today and the premade days
ahead exist, the retention setting is written into partman.part_config, and maintenance drops
a day older than the retention while keeping a younger one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from sichrplace.analytics import repository, service
from sichrplace.analytics.models import RAW_TABLES
from sichrplace.config import Settings
from sichrplace.platform.db.engines import Database
from sichrplace.platform.db.unit import transaction
from tests.analytics.conftest import today

TABLES = [table for table, _ in RAW_TABLES]


async def _maintain(db: Database, settings: Settings) -> None:
    async with transaction(db) as session:
        await service.maintain(session, settings.analytics, only_ours=True)


async def _days(db: Database, table: str) -> set[object]:
    async with transaction(db) as session:
        return {p.first_day for p in await repository.partitions(session, table)}


@pytest.mark.parametrize("table", TABLES)
async def test_today_and_the_premade_days_ahead_exist(
    db: Database, settings: Settings, table: str
) -> None:
    await _maintain(db, settings)
    days = await _days(db, table)
    premake = settings.analytics.premake_days
    wanted = {today() + timedelta(days=n) for n in range(premake + 1)}
    assert wanted <= days, sorted(wanted - days)
    assert None in days  # the default partition catches whatever no day covers
    async with transaction(db) as session:
        config = {p: (r, n, k) for p, r, n, k in await repository.part_config(session)}
    retention, made_ahead, keep_table = config[f"public.{table}"]
    assert retention == f"{settings.analytics.retention_days} days"
    assert made_ahead == premake
    assert keep_table is False  # retention drops the table, not only detaches it


async def test_retention_drops_a_day_past_it_and_keeps_a_younger_one(
    db: Database, settings: Settings
) -> None:
    table = "listing_views"
    retention = settings.analytics.retention_days
    now = datetime.now(UTC)
    old = (now - timedelta(days=retention + 10)).date()
    young = (now - timedelta(days=retention - 10)).date()
    moments = [datetime(d.year, d.month, d.day, 12, tzinfo=UTC) for d in (old, young)]
    async with transaction(db) as session:
        await repository.create_partitions(session, f"public.{table}", moments)
    made = await _days(db, table)
    assert {old, young} <= made  # as a stack running for months would have them
    try:
        await _maintain(db, settings)
        left = await _days(db, table)
        assert old not in left  # dropped by retention
        assert young in left  # inside the retention: kept
    finally:
        async with transaction(db) as session:
            for p in await repository.partitions(session, table):
                if p.first_day == young:  # not left lying around for ten days
                    await session.execute(text(f'DROP TABLE "{p.name}"'))
