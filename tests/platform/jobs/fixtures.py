"""Fixtures for tests that run workers: queues of their own (cleaned up), subprocesses, and
one shared worker + SMTP sink for the tests that neither kill nor stop their worker."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text

from sichrplace.platform.db.engines import Database
from tests.platform.jobs.workers import (
    Proc,
    fetch,
    free_port,
    sink_ready,
    start_sink,
    start_worker,
    worker_ready,
)


async def _drop_queue(db: Database, queue: str) -> None:
    async with db.primary.begin() as conn:
        await conn.execute(
            text("DELETE FROM procrastinate_jobs WHERE queue_name = :q"), {"q": queue}
        )
        await conn.execute(
            text("DELETE FROM procrastinate_periodic_defers WHERE periodic_id = :q"), {"q": queue}
        )
    assert not await fetch(db, "SELECT 1 FROM procrastinate_jobs WHERE queue_name = :q", q=queue)


@pytest.fixture
async def job_queue(db: Database) -> AsyncIterator[str]:
    """A queue no other worker serves; its jobs and periodic bookkeeping go away afterwards."""
    queue = f"test-{uuid.uuid4().hex[:12]}"
    yield queue
    await _drop_queue(db, queue)


@pytest.fixture
def procs(job_queue: str) -> Iterator[list[Proc]]:
    """Register every subprocess here: all are stopped before the queue is cleaned up."""
    started: list[Proc] = []
    yield started
    for proc in reversed(started):
        proc.stop()


@dataclass(frozen=True)
class Sink:
    port: int
    directory: Path
    proc: Proc


@dataclass(frozen=True)
class SharedWorker:
    queue: str
    proc: Proc


class _Shared:
    """tests/platform/jobs and tests/notifications each import the session fixtures below, so
    pytest keeps two instances; they share one sink and one worker through this refcount."""

    sink: Sink | None = None
    worker: SharedWorker | None = None
    sink_users = 0
    worker_users = 0


@pytest.fixture(scope="session")
async def shared_sink(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Sink]:
    """`sichrplace mail sink` on a free port, storing into a fresh folder."""
    if _Shared.sink is None:
        folder = tmp_path_factory.mktemp("sink")
        port = free_port()
        proc = start_sink(port, folder / "mail", folder / "sink.log")
        try:
            await sink_ready(proc)
        except BaseException:
            proc.stop()
            raise
        _Shared.sink = Sink(port, folder / "mail", proc)
    _Shared.sink_users += 1
    try:
        yield _Shared.sink
    finally:
        _Shared.sink_users -= 1
        if _Shared.sink_users == 0:
            _Shared.sink.proc.stop()
            _Shared.sink = None


@pytest.fixture(scope="session")
async def shared_worker(
    db: Database, shared_sink: Sink, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[SharedWorker]:
    """A worker on a queue of this session, sending mail to `shared_sink`.

    Tests on it must not stop it, and only one may leave dead letters on its queue (the
    dead-letter test lists and revives the queue's failed jobs)."""
    if _Shared.worker is None:
        queue = f"test-shared-{uuid.uuid4().hex[:12]}"
        log = tmp_path_factory.mktemp("shared-worker") / "worker.log"
        proc = start_worker(queue, log, SICHRPLACE_SMTP_PORT=str(shared_sink.port))
        try:
            await worker_ready(proc)
        except BaseException:
            proc.stop()
            raise
        _Shared.worker = SharedWorker(queue, proc)
    _Shared.worker_users += 1
    try:
        yield _Shared.worker
    finally:
        _Shared.worker_users -= 1
        if _Shared.worker_users == 0:
            shared, _Shared.worker = _Shared.worker, None
            shared.proc.stop()
            await _drop_queue(db, shared.queue)
