"""Running the journeys and recording them: what the periodic job and the CLI call."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence

import httpx
import structlog
from redis import asyncio as aioredis

from sichrplace.config import Settings
from sichrplace.ops.synthetic import store
from sichrplace.ops.synthetic.accounts import Cast, ensure_cast
from sichrplace.ops.synthetic.journeys import describe, run_journey
from sichrplace.ops.synthetic.records import JourneyResult
from sichrplace.ops.synthetic.settings import SyntheticSettings, get_synthetic_settings
from sichrplace.platform.db.engines import Database

log = structlog.get_logger(__name__)


def base_url(settings: Settings, cfg: SyntheticSettings) -> str:
    return (cfg.base_url or settings.app.public_base_url).rstrip("/")


async def _lock(
    redis: aioredis.Redis, journey: str, holder: str, cfg: SyntheticSettings, wait: bool
) -> bool:
    deadline = time.monotonic() + (cfg.run_timeout_seconds if wait else 0)
    while not await store.take_lock(redis, journey, holder, cfg.run_timeout_seconds):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.5)
    return True


async def run(
    db: Database,
    redis: aioredis.Redis,
    settings: Settings,
    journeys: Sequence[str],
    *,
    wait: bool = False,
    cfg: SyntheticSettings | None = None,
) -> list[JourneyResult]:
    """Run `journeys` in order, each recorded in the store as it ends. A journey another
    process is running is skipped (`wait`: waited for, up to the run timeout). A cast that
    cannot be made (the API or the database down) fails every journey asked for."""
    cfg = cfg or get_synthetic_settings()
    holder = uuid.uuid4().hex
    results: list[JourneyResult] = []
    async with httpx.AsyncClient(
        base_url=base_url(settings, cfg), timeout=cfg.request_timeout_seconds
    ) as http:
        cast: Cast | None = None
        cast_error: str | None = None
        try:
            cast = await ensure_cast(db, settings, http)
        except Exception as exc:  # the journeys' result says why; the job itself succeeds
            cast_error = f"setting up the synthetic accounts: {describe(exc)}"
        for journey in journeys:
            if not await _lock(redis, journey, holder, cfg, wait):
                log.info("synthetic_journey_skipped", journey=journey, reason="running elsewhere")
                continue
            try:
                if cast is None:
                    now = time.time()
                    result = JourneyResult(journey, now, now, (), cast_error)
                else:
                    result = await run_journey(journey, http, cast, cfg)
                await store.record(redis, result)
            finally:
                await store.release_lock(redis, journey, holder)
            log.log(
                20 if result.ok else 30,
                "synthetic_journey",
                journey=journey,
                ok=result.ok,
                seconds=round(result.seconds, 3),
                failed_step=result.failed_step,
                error=result.error,
                cleanup_error=result.cleanup_error,
            )
            results.append(result)
    return results
