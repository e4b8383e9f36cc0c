"""`@task`: declare a job handler with the house retry policy (exponential backoff, limited)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Concatenate, Literal, ParamSpec, TypeVar, overload

from procrastinate import BaseRetryStrategy, JobContext, RetryDecision
from procrastinate.jobs import Job
from procrastinate.tasks import Task

from sichrplace.config import get_settings
from sichrplace.kit.clock import utcnow
from sichrplace.platform.jobs import metrics
from sichrplace.platform.jobs.app import job_app

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_QUEUE = "default"
# Periodic and housekeeping jobs run here; the queue name is also the periodic id, so workers
# with different maintenance queues (e.g. a test worker on its own) schedule independently,
# while workers sharing one queue defer each tick only once.
MAINTENANCE_QUEUE = get_settings().jobs.maintenance_queue


class PermanentJobError(Exception):
    """Raise from a handler when retrying cannot help: the job is dead-lettered at once."""


class ExponentialBackoff(BaseRetryStrategy):
    """Retry after base * 2**(attempt-1) seconds (capped, with jitter) until max_attempts runs.

    `None` parameters read `JobSettings` when the decision is made, so a worker's environment
    (e.g. short timings in tests) applies to every task. `max_attempts` counts runs, not
    retries: 1 means never retry. A job cancelled because its worker shut down did not fail:
    it is put back at once, whatever its attempt count. `PermanentJobError` is never retried.
    """

    def __init__(
        self,
        *,
        max_attempts: int | None = None,
        base_seconds: float | None = None,
        max_seconds: float | None = None,
        jitter: float | None = None,
    ) -> None:
        self.max_attempts = max_attempts
        self.base_seconds = base_seconds
        self.max_seconds = max_seconds
        self.jitter = jitter

    def attempts_allowed(self) -> int:
        return self.max_attempts or get_settings().jobs.max_attempts

    def delay_seconds(self, attempts_done: int) -> float:
        """Backoff before run number attempts_done + 2 (attempts_done >= 0 previous failures)."""
        settings = get_settings().jobs
        base = settings.backoff_base_seconds if self.base_seconds is None else self.base_seconds
        cap = settings.backoff_max_seconds if self.max_seconds is None else self.max_seconds
        jitter = settings.backoff_jitter if self.jitter is None else self.jitter
        delay = min(base * 2.0**attempts_done, cap)
        return max(0.0, delay * (1 + random.uniform(-jitter, jitter)))

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if isinstance(exception, asyncio.CancelledError):
            return RetryDecision(retry_at=utcnow())  # worker shutdown: run again elsewhere
        # Counted here: procrastinate asks once per failed run, and only the strategy knows.
        task = metrics.task_label(job.task_name, job_app.tasks.__contains__)
        # `job.attempts` counts finished runs; the run that just failed is attempts + 1.
        if isinstance(exception, PermanentJobError) or job.attempts + 1 >= self.attempts_allowed():
            metrics.count_decision(job.queue, task, retried=False)
            return None
        metrics.count_decision(job.queue, task, retried=True)
        delay = self.delay_seconds(job.attempts)
        return RetryDecision(retry_at=utcnow() + timedelta(seconds=delay))


@overload
def task(
    *,
    name: str,
    queue: str = ...,
    max_attempts: int | None = ...,
    backoff_base_seconds: float | None = ...,
    retry: BaseRetryStrategy | None = ...,
    pass_context: Literal[False] = False,
    priority: int = ...,
    lock: str | None = ...,
    queueing_lock: str | None = ...,
) -> Callable[[Callable[P, R]], Task[P, R, P]]: ...


@overload
def task(
    *,
    name: str,
    queue: str = ...,
    max_attempts: int | None = ...,
    backoff_base_seconds: float | None = ...,
    retry: BaseRetryStrategy | None = ...,
    pass_context: Literal[True],
    priority: int = ...,
    lock: str | None = ...,
    queueing_lock: str | None = ...,
) -> Callable[
    [Callable[Concatenate[JobContext, P], R]], Task[Concatenate[JobContext, P], R, P]
]: ...


def task(
    *,
    name: str,
    queue: str = DEFAULT_QUEUE,
    max_attempts: int | None = None,
    backoff_base_seconds: float | None = None,
    retry: BaseRetryStrategy | None = None,
    pass_context: bool = False,
    priority: int = 0,
    lock: str | None = None,
    queueing_lock: str | None = None,
) -> Callable[[Any], Any]:
    """Declare an async job handler. Handlers must be idempotent: delivery is at-least-once.

    Defaults: `JobSettings.max_attempts` runs with exponential backoff from
    `JobSettings.backoff_base_seconds`; override per task, or pass a whole `retry` strategy.
    With `pass_context=True` the handler gets procrastinate's `JobContext` first.
    """
    strategy = retry or ExponentialBackoff(
        max_attempts=max_attempts, base_seconds=backoff_base_seconds
    )
    options: dict[str, Any] = {
        "name": name,
        "queue": queue,
        "retry": strategy,
        "priority": priority,
        "lock": lock,
        "queueing_lock": queueing_lock,
    }
    if pass_context:
        return job_app.task(pass_context=True, **options)
    return job_app.task(pass_context=False, **options)


def periodic(*, cron: str) -> Callable[[Task[P, R, Any]], Task[P, R, Any]]:
    """Schedule a task (declared with `@task`, taking a `timestamp` argument) by `cron`
    (5 fields, or 6 with seconds last): how a domain registers its periodic jobs."""

    def register(task_fn: Task[P, R, Any]) -> Task[P, R, Any]:
        job_app.periodic(cron=cron, periodic_id=MAINTENANCE_QUEUE)(task_fn)
        return task_fn

    return register


def retry_strategy_of(task_name: str) -> BaseRetryStrategy:
    """The strategy of a registered task (the house default for tasks this process lacks)."""
    found: Task[Any, Any, Any] | None = job_app.tasks.get(task_name)
    if found is not None and found.retry_strategy is not None:
        return found.retry_strategy
    return ExponentialBackoff()
