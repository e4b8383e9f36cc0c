"""Operations endpoints: liveness, readiness, version."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from sichrplace import __version__
from sichrplace.config import get_settings
from sichrplace.ops.schemas import HealthOut, ReadinessOut, VersionOut
from sichrplace.platform.db.engines import Database

router = APIRouter(tags=["operations"])
api_router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=HealthOut)
async def healthz() -> HealthOut:
    return HealthOut(status="ok")


async def _check(coro: Any, limit: float) -> str:
    try:
        async with asyncio.timeout(limit):
            await coro
        return "ok"
    except Exception as exc:
        return f"down: {type(exc).__name__}"


@router.get("/readyz", response_model=ReadinessOut, responses={503: {"model": ReadinessOut}})
async def readyz(request: Request) -> JSONResponse:
    db: Database = request.app.state.db
    if getattr(request.app.state, "draining", False):
        body = ReadinessOut(status="draining", checks={"shutdown": "draining"})
        return JSONResponse(body.model_dump(), status_code=503, headers={"Retry-After": "5"})
    timeout = db.settings.connect_timeout_seconds
    primary, redis = await asyncio.gather(
        _check(db.check_primary(), timeout), _check(request.app.state.redis.ping(), timeout)
    )
    replica_state = db.replica_state
    replica = (
        "ok"
        if db.replica_usable()
        else (
            f"lagging: {replica_state.lag_seconds:.1f}s"
            if replica_state.reachable
            else f"down: {replica_state.error or 'unreachable'}"
        )
    )
    checks = {"primary": primary, "redis": redis, "replica": replica}
    if primary != "ok" or redis != "ok":
        body = ReadinessOut(status="unavailable", checks=checks)
        return JSONResponse(body.model_dump(), status_code=503, headers={"Retry-After": "5"})
    status = "ok" if replica == "ok" else "degraded"
    return JSONResponse(ReadinessOut(status=status, checks=checks).model_dump())


@api_router.get("/version", response_model=VersionOut)
async def version() -> VersionOut:
    return VersionOut(version=__version__, git_sha=get_settings().app.git_sha)
