"""The synthetic journeys' periodic job (every 5 minutes by default): the worker runs every
journey and records each result, which the workers export (importing metrics registers the
collector in the worker)."""

from __future__ import annotations

from sichrplace.ops.synthetic import metrics, rules, service
from sichrplace.ops.synthetic.settings import get_synthetic_settings
from sichrplace.platform.jobs import MAINTENANCE_QUEUE, job_parts, periodic, task

__all__ = ["metrics", "run_synthetic_journeys"]

_settings = get_synthetic_settings()


@task(
    name="ops.synthetic_journeys",
    queue=MAINTENANCE_QUEUE,
    max_attempts=1,  # the next tick is the retry (a failed journey is a result, not an error)
    queueing_lock="ops.synthetic_journeys",
)
async def run_synthetic_journeys(timestamp: int | None = None) -> int:
    """Run every journey once; how many passed."""
    parts = job_parts()
    results = await service.run(parts.db, parts.redis, parts.settings, rules.JOURNEYS)
    return sum(1 for r in results if r.ok)


# Off (SICHRPLACE_SYNTHETIC_ENABLED=false): not scheduled; the staleness alert says so.
if _settings.enabled:
    periodic(cron=_settings.cron)(run_synthetic_journeys)
