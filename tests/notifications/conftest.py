from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from sichrplace.composition import worker_parts
from sichrplace.config import Settings
from sichrplace.platform.db.engines import Database
from sichrplace.platform.jobs.runtime import use_job_parts
from tests.platform.jobs.fixtures import job_queue, procs, shared_sink, shared_worker

__all__ = ["dedupe_keys", "in_process_jobs", "job_queue", "procs", "shared_sink", "shared_worker"]


@pytest.fixture
async def in_process_jobs(settings: Settings) -> AsyncIterator[None]:
    """For calling handlers directly: a worker's parts, installed for them and closed after."""
    async with worker_parts(settings) as parts:
        with use_job_parts(parts):
            yield


@pytest.fixture
async def dedupe_keys(db: Database) -> AsyncIterator[list[str]]:
    """Keys appended here lose their `notification_emails_sent` rows after the test."""
    keys: list[str] = []
    yield keys
    async with db.primary.begin() as conn:
        await conn.execute(
            text("DELETE FROM notification_emails_sent WHERE dedupe_key = ANY(:keys)"),
            {"keys": keys},
        )
