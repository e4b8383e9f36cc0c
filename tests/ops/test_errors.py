"""Error containment: database overload answers 503, nothing escapes to the server."""

from __future__ import annotations

import httpx
import psycopg
from fastapi import FastAPI
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from sichrplace.platform.http.middleware import ContainErrorsMiddleware
from sichrplace.platform.http.problems import install_error_handlers


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/statement-timeout")
    async def statement_timeout() -> None:
        raise OperationalError("SELECT 1", {}, psycopg.errors.QueryCanceled("canceling statement"))

    @app.get("/pool-timeout")
    async def pool_timeout() -> None:
        raise PoolTimeout("QueuePool limit reached")

    @app.get("/bug")
    async def bug() -> None:
        raise RuntimeError("boom")

    return app


async def _get(path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=ContainErrorsMiddleware(_app()), raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        return await http.get(path)


async def test_statement_timeout_is_503_with_retry_after() -> None:
    resp = await _get("/statement-timeout")
    assert resp.status_code == 503
    assert resp.headers["retry-after"] == "2"
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["type"].endswith("/dependency-unavailable")


async def test_pool_timeout_is_503() -> None:
    assert (await _get("/pool-timeout")).status_code == 503


async def test_a_bug_is_a_500_problem_and_does_not_escape_to_the_server() -> None:
    # raise_app_exceptions=True: the request would raise here if the exception escaped.
    resp = await _get("/bug")
    assert resp.status_code == 500
    assert resp.json()["type"].endswith("/internal-error")
