"""schemathesis against the running stack (through nginx): every operation, as each role, with
every check of the installed version, deterministic and small enough for the test command
(`sichrplace check api` runs the same with more examples)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from sichrplace.cli import check
from sichrplace.config import Settings

pytestmark = pytest.mark.stack

# Test cases per operation and role: about a minute and a half on the 2-core CI machine (10
# took 134 s); `sichrplace check api` runs the same with more.
MAX_EXAMPLES = 6


# In a thread: the command runs its own event loops (asyncio.run), which must not replace the
# session's loop of the other tests.
async def test_the_prepared_data_is_reachable(stack_url: str, settings: Settings) -> None:
    data = await asyncio.to_thread(check.prepare, stack_url)
    assert set(data.tokens) == {"tenant", "landlord", "admin"}
    admin = {"Authorization": f"Bearer {data.tokens['admin']}"}
    user_path = f"/api/v1/admin/users/{data.user_id}"
    async with httpx.AsyncClient(base_url=stack_url) as client:
        image = await client.get(f"/api/v1/listings/{data.listing_id}/images/{data.image_id}")
        assert image.status_code == 200
        # The administration routes are internal: 404 at the public entry point ...
        assert (await client.get(user_path, headers=admin)).status_code == 404
    # ... and served on each instance's own port, where the fuzz run reaches them.
    internal = f"http://127.0.0.1:{settings.stack.api_base_port}"
    async with httpx.AsyncClient(base_url=internal) as client:
        user = await client.get(user_path, headers=admin)
        assert user.status_code == 200


async def test_schemathesis_finds_nothing(tmp_path: Path) -> None:
    started = time.monotonic()
    failed = await asyncio.to_thread(check.run, max_examples=MAX_EXAMPLES, report_dir=tmp_path)
    assert failed == 0, "schemathesis found failures: see the captured output above"
    assert time.monotonic() - started < 240, "the fuzz run outgrew its time budget"
