"""Test-only tasks. Test workers import this module (SICHRPLACE_JOBS_IMPORT_PATHS); the stack's
worker does not, and every test defers onto its own queue, so nothing here is stolen."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sichrplace.platform.jobs import task

QUEUE = "tests-jobs"  # each test overrides it with a queue of its own


@task(name="tests.jobs.noop", queue=QUEUE)
async def noop(token: str) -> str:
    return token


@task(name="tests.jobs.flaky", queue=QUEUE, max_attempts=3)
async def flaky(token: str, heal_file: str) -> str:
    """Fails until `heal_file` exists."""
    if not await asyncio.to_thread(Path(heal_file).exists):
        raise RuntimeError(f"boom {token}")
    return "healed"


@task(name="tests.jobs.sleep", queue=QUEUE)
async def sleep(token: str, seconds: float) -> str:
    await asyncio.sleep(seconds)
    return token
