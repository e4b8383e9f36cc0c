"""RFC 9457 problem details: one exception type, stable `type` URIs, and FastAPI handlers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import psycopg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://sichrplace.de/problems/"

log = structlog.get_logger(__name__)


class ProblemError(Exception):
    """An error that becomes an application/problem+json response."""

    status: int = 500
    slug: str = "internal-error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        status: int | None = None,
        slug: str | None = None,
        title: str | None = None,
        errors: Sequence[Mapping[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status or self.status
        self.slug = slug or self.slug
        self.title = title or HTTPStatus(self.status).phrase
        self.detail = detail or self.title
        self.errors = list(errors or [])
        self.headers = dict(headers or {})
        super().__init__(self.detail)


class BadRequest(ProblemError):
    status, slug = 400, "bad-request"


class Unauthorized(ProblemError):
    status, slug = 401, "unauthorized"

    def __init__(self, detail: str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kw)


class Forbidden(ProblemError):
    status, slug = 403, "forbidden"


class NotFound(ProblemError):
    status, slug = 404, "not-found"


class Conflict(ProblemError):
    status, slug = 409, "conflict"


class PayloadTooLarge(ProblemError):
    status, slug = 413, "payload-too-large"


class UnsupportedMediaType(ProblemError):
    status, slug = 415, "unsupported-media-type"


class Unprocessable(ProblemError):
    status, slug = 422, "validation-error"

    @classmethod
    def field(cls, field: str, message: str, *, slug: str | None = None) -> Unprocessable:
        return cls(f"{field}: {message}", errors=[{"field": field, "message": message}], slug=slug)


class TooManyRequests(ProblemError):
    status, slug = 429, "rate-limited"

    def __init__(self, retry_after: int, detail: str | None = None, **kw: Any) -> None:
        kw["headers"] = {"Retry-After": str(max(1, retry_after))}
        super().__init__(detail, **kw)


class ServiceUnavailable(ProblemError):
    status, slug = 503, "service-unavailable"

    def __init__(self, detail: str | None = None, retry_after: int = 5, **kw: Any) -> None:
        kw["headers"] = {"Retry-After": str(retry_after)}
        super().__init__(detail, **kw)


def problem_response(
    status: int,
    *,
    slug: str,
    title: str | None = None,
    detail: str | None = None,
    errors: Sequence[Mapping[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
    instance: str | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": TYPE_BASE + slug,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail or title or HTTPStatus(status).phrase,
    }
    if errors:
        body["errors"] = list(errors)
    if instance:
        body["instance"] = instance
    return JSONResponse(
        body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_JSON
    )


def _field_name(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def validation_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for err in exc.errors():
        loc = err.get("loc", ())
        if err.get("type") == "json_invalid":
            out.append({"field": "body", "message": "malformed JSON: " + str(err.get("msg", ""))})
            continue
        out.append({"field": _field_name(loc), "message": str(err.get("msg", "invalid"))})
    return out


async def _handle_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(
        exc.status,
        slug=exc.slug,
        title=exc.title,
        detail=exc.detail,
        errors=exc.errors,
        headers=exc.headers,
        instance=request.url.path,
    )


async def _handle_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = validation_errors(exc)
    malformed = any(e["field"] == "body" and e["message"].startswith("malformed") for e in errors)
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem_response(
        400 if malformed else 422,
        slug="malformed-json" if malformed else "validation-error",
        title="Malformed request body" if malformed else "Invalid input",
        detail=detail,
        errors=errors,
        instance=request.url.path,
    )


async def _handle_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
    return problem_response(
        exc.status_code,
        slug=slug,
        detail=str(exc.detail),
        headers=getattr(exc, "headers", None),
        instance=request.url.path,
    )


# A query cancelled by statement_timeout, or no pooled connection within the pool timeout:
# the database is overloaded or away, not the request wrong. Clients may retry later.
_DB_UNAVAILABLE_SQLSTATES = ("57014", "57P01", "57P03", "08")


def _database_unavailable(exc: Exception) -> bool:
    if isinstance(exc, SQLAlchemyTimeoutError):
        return True
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(orig, psycopg.OperationalError):
        sqlstate = orig.sqlstate or "08"
        return sqlstate.startswith(_DB_UNAVAILABLE_SQLSTATES)
    return False


async def _handle_database(request: Request, exc: Exception) -> JSONResponse:
    if not _database_unavailable(exc):
        return await _handle_unexpected(request, exc)
    log.warning("database_unavailable", path=request.url.path, error=repr(exc)[:300])
    return problem_response(
        503,
        slug="dependency-unavailable",
        detail="The database cannot serve this request right now; retry shortly.",
        headers={"Retry-After": "2"},
        instance=request.url.path,
    )


async def _handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled_error", path=request.url.path)
    return problem_response(500, slug="internal-error", detail="An unexpected error occurred.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _handle_problem)
    app.add_exception_handler(RequestValidationError, _handle_validation)
    app.add_exception_handler(StarletteHTTPException, _handle_http)
    for db_error in (DBAPIError, psycopg.OperationalError, SQLAlchemyTimeoutError):
        app.add_exception_handler(db_error, _handle_database)
    app.add_exception_handler(Exception, _handle_unexpected)
