"""Jobs of database maintenance."""

from __future__ import annotations

from sichrplace.ops.dbmaint import service
from sichrplace.platform.jobs import MAINTENANCE_QUEUE, job_parts, periodic, task


@periodic(cron="47 2 * * *")  # nightly, at a quiet hour, before the 03:xx retention jobs
@task(
    name="ops.analyze_bulk_loaded",
    queue=MAINTENANCE_QUEUE,
    max_attempts=1,  # tomorrow's run is the retry
    queueing_lock="ops.analyze_bulk_loaded",
)
async def analyze_bulk_loaded(timestamp: int | None = None) -> int:
    """ANALYZE the tables bulk loads write (tables.BULK_LOADED_TABLES) and every partitioned
    table: autovacuum's analyze follows row changes, so a load that ends below the trigger,
    or a partitioned parent (never auto-analysed), would keep stale statistics. How many
    tables were analysed."""
    return await service.analyze_bulk_loaded(job_parts().db)
