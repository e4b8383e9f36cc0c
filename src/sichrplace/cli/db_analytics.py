"""`sichrplace db analytics`: the raw analytics tables' partitions and retention, the rollups'
freshness; `--maintain` and `--rollup` run the periodic jobs' work at once."""

from __future__ import annotations

import asyncio

import typer
from sqlalchemy import text

from sichrplace.analytics import repository, service
from sichrplace.analytics.models import RAW_TABLES
from sichrplace.config import get_settings
from sichrplace.kit.clock import utcnow
from sichrplace.platform.db.engines import Database
from sichrplace.platform.db.unit import transaction


async def _run(maintain: bool, rollup_days: int) -> list[str]:
    settings = get_settings()
    db = Database(settings.db)
    lines: list[str] = []
    try:
        async with transaction(db) as session:
            if maintain:
                await service.maintain(session, settings.analytics)
                lines.append("maintenance: done (retention and premake from the settings)")
            if rollup_days:
                first, last = service.recent_days(days=rollup_days)
                report = await service.rollup(session, first, last)
                lines.append(
                    f"rollup {first}..{last}: {report.listing_rows} listing rows and"
                    f" {report.city_rows} city rows written"
                )
            config = {p: (r, n, k) for p, r, n, k in await repository.part_config(session)}
            for table, _ in RAW_TABLES:
                parts = await repository.partitions(session, table)
                days = [p.first_day for p in parts if p.first_day is not None]
                retention, premake, keep = config.get(f"public.{table}", (None, 0, True))
                default = await repository.default_rows(session, table)
                span = f"{min(days)} .. {max(days)}" if days else "none"
                lines.append(
                    f"{table:15s} {len(days):3d} daily partitions {span}  retention {retention}"
                    f" (drop: {not keep})  premake {premake}  rows in default {default}"
                )
            row = (
                await session.execute(
                    text(
                        "SELECT (SELECT max(updated_at) FROM listing_daily), "
                        "(SELECT count(*) FROM listing_daily WHERE day = :today), "
                        "(SELECT max(updated_at) FROM city_daily)"
                    ),
                    {"today": utcnow().date()},
                )
            ).one()
            lines.append(
                f"listing_daily: last written {row[0]}, {row[1]} rows today;"
                f" city_daily: last written {row[2]}"
            )
    finally:
        await db.dispose()
    return lines


def analytics(
    maintain: bool = typer.Option(
        False, help="Run pg_partman's maintenance now (as the hourly job does)."
    ),
    rollup: int = typer.Option(
        0, min=0, help="Roll up this many days up to today now (the job: 2)."
    ),
) -> None:
    """Partitions of the raw analytics tables (first and last day, retention, rows that fell
    into the default partition) and when the rollups were last written."""
    for line in asyncio.run(_run(maintain, rollup)):
        typer.echo(line)
