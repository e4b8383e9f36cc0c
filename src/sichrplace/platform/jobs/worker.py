"""Running a worker: task discovery, queue selection, error recording, graceful shutdown."""

from __future__ import annotations

import asyncio
import importlib
import os
import socket
import time
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import structlog
from procrastinate import JobContext
from procrastinate.exceptions import JobAborted
from procrastinate.middleware import AsyncCallNext
from procrastinate.worker import Worker

import sichrplace
from sichrplace.config import get_settings
from sichrplace.platform.jobs import metrics, repository
from sichrplace.platform.jobs.app import job_app, open_job_app
from sichrplace.platform.jobs.maintenance import PRUNE_WORKERS_AFTER_SECONDS
from sichrplace.platform.jobs.runtime import use_job_parts
from sichrplace.platform.observability import tracing
from sichrplace.platform.observability.errors import report_exception
from sichrplace.platform.parts import Parts

log = structlog.get_logger(__name__)

PERIODIC_MODULE = "sichrplace.platform.jobs.periodic"


def discover_task_modules() -> list[str]:
    """Every `sichrplace.<...>.tasks` module, found on disk (no import side effects)."""
    root = Path(sichrplace.__file__).parent
    modules = []
    for path in sorted(root.rglob("tasks.py")):
        parts = path.relative_to(root).with_suffix("").parts
        modules.append(".".join(("sichrplace", *parts)))
    return modules


def import_task_modules(extra: Iterable[str] = ()) -> list[str]:
    """Import every task module (a broken one stops the worker loudly); return their names."""
    names = [*discover_task_modules(), PERIODIC_MODULE, *extra]
    for name in names:
        importlib.import_module(name)
    return names


def default_queues() -> list[str]:
    """Every queue a registered task declares, plus the maintenance queue."""
    queues = {t.queue for t in job_app.tasks.values()}
    queues.add(get_settings().jobs.maintenance_queue)
    return sorted(queues)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.CancelledError):
        return "CancelledError: the worker stopped before the job finished"
    lines = traceback.format_exception(exc)
    return f"{type(exc).__name__}: {exc}\n{''.join(lines[-6:])}"


async def record_errors(call_next: AsyncCallNext, context: JobContext, worker: Worker) -> Any:
    """Worker middleware: keep each failed attempt's error for `sichrplace jobs failed`."""
    try:
        return await call_next()
    except BaseException as exc:
        job_id, attempt, error = context.job.id, context.job.attempts + 1, _describe(exc)
        log.warning(
            "job_attempt_failed",
            job_id=job_id,
            task=context.job.task_name,
            queue=context.job.queue,
            attempt=attempt,
            error=error,
        )
        if not isinstance(exc, asyncio.CancelledError):
            report_exception(exc)
        if job_id is not None:
            try:
                await repository.record_error(
                    context.app.connector, job_id=job_id, attempt=attempt, error=error
                )
            except Exception as record_exc:  # losing the note must not lose the job
                log.warning("job_error_not_recorded", job_id=job_id, error=str(record_exc))
        raise


async def count_runs(call_next: AsyncCallNext, context: JobContext, worker: Worker) -> Any:
    """Worker middleware: count and time every run by queue, task and outcome."""
    job = context.job
    task = metrics.task_label(job.task_name, job_app.tasks.__contains__)
    started = time.perf_counter()
    outcome = "failed"
    try:
        result = await call_next()
        outcome = "succeeded"
        return result
    except (asyncio.CancelledError, JobAborted):
        outcome = "cancelled"
        raise
    finally:
        metrics.observe_run(job.queue, task, outcome, started)


async def trace_job(call_next: AsyncCallNext, context: JobContext, worker: Worker) -> Any:
    """Worker middleware: run the job in a span continuing the trace of whoever enqueued it.

    The context came in the job's arguments (platform/jobs/enqueue.py); it is taken out here,
    so handlers never see it (procrastinate calls the handler with this same dict)."""
    job = context.job
    traceparent = job.task_kwargs.pop(tracing.JOB_TRACE_KEY, None)
    headers = {"traceparent": traceparent} if isinstance(traceparent, str) else None
    with tracing.continued_span(
        f"job {job.task_name}",
        headers,
        {
            "job.id": job.id or 0,
            "job.task": job.task_name,
            "job.queue": job.queue,
            "job.attempt": job.attempts + 1,
        },
    ):
        return await call_next()


async def run_worker(
    parts: Parts,
    *,
    queues: list[str] | None = None,
    concurrency: int | None = None,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
) -> None:
    """Run until SIGTERM/SIGINT, then let running jobs finish within the shutdown timeout;
    handlers use `parts` (the composition root's worker parts).

    Jobs still running at the timeout are cancelled and go back to the queue; jobs of a
    worker that dies without a word are recovered by the periodic stalled-job check.
    With `metrics_port` it serves its metrics there, on `metrics_host` (`platform/jobs/metrics.py`).
    """
    settings = get_settings().jobs
    import_task_modules(settings.import_paths)
    chosen = queues or settings.queues or default_queues()
    workers = concurrency or settings.concurrency
    name = f"{socket.gethostname()}:{os.getpid()}"
    log.info("job_worker_starting", queues=chosen, concurrency=workers, name=name)
    # Per running job one connection at most, plus the listener, heartbeat, fetcher and the
    # queue sampler.
    with use_job_parts(parts), metrics.metrics_server(metrics_port, metrics_host):
        async with open_job_app(max_size=workers + 4) as app:
            sampler = metrics.QueueSampler(
                app.connector, default_queues(), settings.metrics_sample_seconds
            )
            async with sampler.running():
                await app.run_worker_async(
                    queues=chosen,
                    name=name,
                    concurrency=workers,
                    wait=True,
                    fetch_job_polling_interval=settings.poll_interval_seconds,
                    abort_job_polling_interval=settings.poll_interval_seconds,
                    shutdown_graceful_timeout=settings.shutdown_timeout_seconds,
                    listen_notify=True,
                    delete_jobs="never",
                    install_signal_handlers=True,
                    update_heartbeat_interval=settings.heartbeat_interval_seconds,
                    stalled_worker_timeout=PRUNE_WORKERS_AFTER_SECONDS,
                    worker_middleware=[trace_job, count_runs, record_errors],
                )
    log.info("job_worker_stopped", name=name)
