"""Operations endpoints: liveness, readiness, version."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from sichrplace import __version__
from sichrplace.ops.schemas import HealthOut, ReadinessOut, VersionOut
from sichrplace.platform.http.dependencies import parts_of

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
    parts = parts_of(request)
    db = parts.db
    if parts.draining:
        body = ReadinessOut(status="draining", checks={"shutdown": "draining"})
        return JSONResponse(body.model_dump(), status_code=503, headers={"Retry-After": "5"})
    timeout = db.settings.connect_timeout_seconds
    primary, redis = await asyncio.gather(
        _check(db.check_primary(), timeout), _check(parts.redis.ping(), timeout)
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
async def version(request: Request) -> VersionOut:
    return VersionOut(version=__version__, git_sha=parts_of(request).settings.app.git_sha)
