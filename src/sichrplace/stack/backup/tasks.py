"""Scheduled backups and restore drills: a full backup weekly, a differential on the other
days, the drill weekly (SICHRPLACE_BACKUP_*_CRON, UTC). The same code as `sichrplace db
backup` and `db drill`.

They run on their own queue, `backup`, which the stack's worker serves with the others; in a
deployment it is served by a worker on the host that holds pgBackRest's configuration and
the Postgres OS user (SICHRPLACE_JOBS_QUEUES='["backup"]'). All share the lock `backup`: a
drill never runs while a backup does, and the other way round.
"""

from __future__ import annotations

import structlog

from sichrplace.config import get_settings
from sichrplace.platform.jobs import job_parts, periodic, task
from sichrplace.stack.backup import drill, metrics, pgbackrest
from sichrplace.stack.backup.pgbackrest import BackupType
from sichrplace.stack.layout import layout_for

log = structlog.get_logger(__name__)

BACKUP_QUEUE = "backup"
_settings = get_settings().backup
# Keep the metrics' module imported wherever the jobs are (the worker serves them).
COLLECTOR = metrics.COLLECTOR


async def take_backup(kind: BackupType) -> str:
    settings = job_parts().settings
    record, seconds = await pgbackrest.backup(settings, layout_for(settings), kind)
    log.info(
        "backup_finished",
        label=record.label,
        type=record.type,
        seconds=round(seconds, 1),
        repo_delta_bytes=record.repo_delta_bytes,
    )
    return record.label


@periodic(cron=_settings.full_cron)
@task(
    name="backup.full",
    queue=BACKUP_QUEUE,
    max_attempts=3,
    backoff_base_seconds=600,  # a busy or failing repository: try again in 10, then 20 min
    lock="backup",
    queueing_lock="backup.full",
)
async def full_backup(timestamp: int | None = None) -> str:
    """The weekly full backup."""
    return await take_backup("full")


@periodic(cron=_settings.diff_cron)
@task(
    name="backup.diff",
    queue=BACKUP_QUEUE,
    max_attempts=3,
    backoff_base_seconds=600,
    lock="backup",
    queueing_lock="backup.diff",
)
async def diff_backup(timestamp: int | None = None) -> str:
    """The daily differential backup (pgBackRest makes it a full one when none exists)."""
    return await take_backup("diff")


@periodic(cron=_settings.drill_cron)
@task(
    name="backup.drill",
    queue=BACKUP_QUEUE,
    max_attempts=1,  # a failed drill is recorded and alerted on (RestoreDrillFailed)
    lock="backup",
    queueing_lock="backup.drill",
)
async def restore_drill(timestamp: int | None = None) -> bool:
    """The weekly restore drill; its result goes to status.json and the metrics."""
    settings = job_parts().settings
    result = await drill.run_drill(settings, layout_for(settings))
    return result.ok
