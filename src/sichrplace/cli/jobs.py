"""`sichrplace jobs`: run a worker, inspect jobs, revive dead letters."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import TypeVar

import typer
from procrastinate import BaseConnector

from sichrplace.config import get_settings
from sichrplace.platform.jobs import repository
from sichrplace.platform.jobs.app import open_job_app
from sichrplace.platform.jobs.repository import JobRow

app = typer.Typer(no_args_is_help=True, help="Job queue: worker and dead-letter tools.")

T = TypeVar("T")


class JobStatus(StrEnum):
    todo = "todo"
    doing = "doing"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"
    aborted = "aborted"


def _split(values: list[str] | None) -> list[str] | None:
    names = [name.strip() for value in values or [] for name in value.split(",") if name.strip()]
    return names or None


def _with_pool(fn: Callable[[BaseConnector], Awaitable[T]]) -> T:
    async def run() -> T:
        async with open_job_app(max_size=1) as job_app:
            return await fn(job_app.connector)

    return asyncio.run(run())


def _one_line(text: str | None, width: int = 80) -> str:
    if not text:
        return "-"
    first = text.strip().splitlines()[0]
    return first if len(first) <= width else first[: width - 1] + "…"


def _print_rows(rows: list[JobRow], *, as_json: bool) -> None:
    if as_json:
        for r in rows:
            typer.echo(
                json.dumps(
                    {
                        "id": r.id,
                        "task": r.task,
                        "queue": r.queue,
                        "status": r.status,
                        "attempts": r.attempts,
                        "last_error": r.last_error,
                        "args": r.args,
                    },
                    default=str,
                )
            )
        return
    typer.echo(f"{'ID':>8}  {'STATUS':<9}  {'TASK':<32}  {'QUEUE':<16}  TRIES  LAST ERROR | ARGS")
    for r in rows:
        args = json.dumps(r.args, default=str, separators=(",", ":"))
        typer.echo(
            f"{r.id:>8}  {r.status:<9}  {r.task:<32}  {r.queue:<16}  {r.attempts:>5}  "
            f"{_one_line(r.last_error)} | {args}"
        )


@app.command()
def worker(
    queues: list[str] | None = typer.Option(
        None, "--queues", "-q", help="Queues to serve (repeat or comma-separate). Default: all."
    ),
    concurrency: int | None = typer.Option(None, "--concurrency", "-c", min=1),
    metrics_port: int | None = typer.Option(
        None, "--metrics-port", help="Serve /metrics on PORT (the stack passes one)."
    ),
    metrics_host: str = typer.Option(
        "127.0.0.1",
        "--metrics-host",
        help="Address of /metrics: 0.0.0.0 where Prometheus and probes come from outside "
        "(a Kubernetes pod, deploy/k8s).",
    ),
) -> None:
    """Run a worker (and the periodic jobs) until SIGTERM/SIGINT, then drain gracefully."""
    from sichrplace.composition import worker_parts
    from sichrplace.platform.jobs.worker import run_worker
    from sichrplace.platform.observability.setup import setup_observability

    settings = get_settings()
    setup_observability(settings, service="worker")

    async def run() -> None:
        async with worker_parts(settings) as parts:
            await run_worker(
                parts,
                queues=_split(queues),
                concurrency=concurrency,
                metrics_port=metrics_port,
                metrics_host=metrics_host,
            )

    asyncio.run(run())


@app.command()
def failed(
    queue: str | None = typer.Option(None, "--queue"),
    limit: int = typer.Option(100, "--limit", min=1),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """List dead-lettered jobs (failed after their last attempt), newest first."""
    rows = _with_pool(lambda c: repository.list_jobs(c, status="failed", queue=queue, limit=limit))
    _print_rows(rows, as_json=as_json)


@app.command("list")
def list_jobs(
    status: JobStatus | None = typer.Option(None, "--status"),
    queue: str | None = typer.Option(None, "--queue"),
    task: str | None = typer.Option(None, "--task"),
    limit: int = typer.Option(50, "--limit", min=1),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """List jobs, newest first."""
    rows = _with_pool(
        lambda c: repository.list_jobs(
            c, status=status.value if status else None, queue=queue, task=task, limit=limit
        )
    )
    _print_rows(rows, as_json=as_json)


@app.command()
def retry(
    job_id: int | None = typer.Argument(None, help="Id of a failed job."),
    all_failed: bool = typer.Option(False, "--all-failed", help="Retry every failed job."),
    queue: str | None = typer.Option(None, "--queue", help="With --all-failed: only this one."),
) -> None:
    """Put dead-lettered jobs back in their queue for one more attempt."""
    if (job_id is None) == (not all_failed):
        raise typer.BadParameter("give either a job id or --all-failed")
    ids = _with_pool(lambda c: repository.retry_failed(c, job_id=job_id, queue=queue))
    if job_id is not None and not ids:
        typer.echo(f"job {job_id} is not a failed job", err=True)
        raise typer.Exit(1)
    for retried in ids:
        typer.echo(f"retrying job {retried}")
    if all_failed:
        typer.echo(f"{len(ids)} job(s) put back in their queue")
