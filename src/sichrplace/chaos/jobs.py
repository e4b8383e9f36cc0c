"""No job lost: a job of the run's window (deferred, started or finished in it) is not left
`doing` once the stalled-job recovery has had its time, and none ended `failed` while its
task's retry policy still allowed another attempt (a `PermanentJobError` is failed on
purpose)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg

from sichrplace.chaos.check import Check, rows, verdict
from sichrplace.platform.jobs.registry import ExponentialBackoff, retry_strategy_of
from sichrplace.platform.jobs.worker import import_task_modules

# The worker's heartbeat is judged stale after 30 s and recovery runs every 10 s
# (JobSettings): a killed worker's jobs are back in the queue (and run) within about a
# minute; this bounds the wait for them.
RECOVERY_WAIT_S = 90.0

_WINDOW_JOBS_SQL = """
WITH w AS (
    SELECT DISTINCT job_id FROM procrastinate_events WHERE at BETWEEN %s AND %s
)
SELECT j.id, j.task_name, j.status::text, j.attempts, coalesce(e.error, '')
  FROM w JOIN procrastinate_jobs j ON j.id = w.job_id
  LEFT JOIN LATERAL (
       SELECT error FROM job_errors WHERE job_id = j.id ORDER BY id DESC LIMIT 1
  ) e ON true
 ORDER BY j.id
"""


def attempts_allowed(task_name: str) -> int | None:
    """How many runs the task's retry policy allows (None: a policy this cannot read)."""
    strategy = retry_strategy_of(task_name)
    if isinstance(strategy, ExponentialBackoff):
        return strategy.attempts_allowed()
    value = getattr(strategy, "max_attempts", None)
    return value if isinstance(value, int) else None


def failed_too_early(task_name: str, attempts: int, last_error: str) -> bool:
    """A dead-lettered job that its policy would have run again."""
    if last_error.startswith("PermanentJobError"):
        return False
    allowed = attempts_allowed(task_name)
    return allowed is not None and attempts < allowed


def _window(
    conn: psycopg.Connection, since: float, until: float
) -> list[tuple[int, str, str, int, str]]:
    return [
        (int(r[0]), str(r[1]), str(r[2]), int(r[3]), str(r[4]))
        for r in rows(
            conn,
            _WINDOW_JOBS_SQL,
            [datetime.fromtimestamp(since, UTC), datetime.fromtimestamp(until, UTC)],
        )
    ]


def jobs_not_lost(
    conn: psycopg.Connection,
    since: float,
    until: float,
    *,
    wait_s: float = RECOVERY_WAIT_S,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Check]:
    """The two job checks over the jobs with an event in [since, until] (unix times)."""
    import_task_modules()  # the tasks' retry policies, as the worker has them
    started = time.monotonic()
    found = _window(conn, since, until)
    while any(status == "doing" for _, _, status, _, _ in found):
        if time.monotonic() - started >= wait_s:
            break
        sleep(2.0)
        found = _window(conn, since, until)
    waited = time.monotonic() - started
    doing = [f"{job} {task}" for job, task, status, _, _ in found if status == "doing"]
    failed = [
        f"{job} {task} (attempt {attempts}: {error.splitlines()[0][:80] if error else '?'})"
        for job, task, status, attempts, error in found
        if status == "failed" and failed_too_early(task, attempts, error)
    ]
    note = f"waited {waited:.0f}s for recovery" if waited >= 1 else ""
    return [
        verdict("no job left running", len(found), doing, note=note),
        verdict("no job failed unretried", len(found), failed),
    ]
