"""Problem responses and the FastAPI exception handlers that produce them (RFC 9457)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from sichrplace.kit.errors import PROBLEM_JSON, ProblemError, problem_document
from sichrplace.platform.observability.errors import already_noted, report_exception

log = structlog.get_logger(__name__)


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
    body = problem_document(
        status, slug=slug, title=title, detail=detail, errors=errors, instance=instance
    )
    return JSONResponse(
        body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_JSON
    )


def response_of(problem: ProblemError, instance: str | None = None) -> JSONResponse:
    return JSONResponse(
        problem.document(instance),
        status_code=problem.status,
        headers=problem.headers,
        media_type=PROBLEM_JSON,
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
    return response_of(exc, request.url.path)


def _json_media_type(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


async def _handle_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    content_type = request.headers.get("content-type", "")
    whole_body = any(tuple(e.get("loc", ())) == ("body",) for e in exc.errors())
    sent_as = content_type.lower()
    # A JSON body sent as something else is not read as JSON (FastAPI's strict content
    # type): the media type is at fault, not the fields. (Uploads are multipart.)
    if (
        whole_body
        and sent_as
        and not sent_as.startswith("multipart/")
        and not _json_media_type(sent_as)
    ):
        return problem_response(
            415,
            slug="unsupported-media-type",
            detail=f"send the body as application/json, not {content_type[:100]}",
            errors=[{"field": "body", "message": "must be application/json"}],
            instance=request.url.path,
        )
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
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request, headers.get("Allow", ""))
    return problem_response(
        exc.status_code,
        slug=slug,
        detail=str(exc.detail),
        headers=headers,
        instance=request.url.path,
    )


def _allowed_methods(request: Request, answered: str) -> str:
    """Every method the API document declares for this path: Starlette names only the first
    route's (GET and PATCH of /listings/{id} are separate routes). Paths outside the document
    keep what Starlette answered."""
    path = request.url.path
    for template, operations in request.app.openapi().get("paths", {}).items():
        pattern = "[^/]+".join(re.escape(part) for part in re.split(r"\{[^}]+\}", template))
        if re.fullmatch(pattern, path):
            methods = {m.upper() for m in operations if m.upper() in _METHODS}
            return ", ".join(sorted(methods))
    return answered


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})


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
    if not already_noted(exc):  # see observability.errors.note_unhandled
        log.exception("unhandled_error", path=request.url.path)
        report_exception(exc)
    return problem_response(500, slug="internal-error", detail="An unexpected error occurred.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _handle_problem)
    app.add_exception_handler(RequestValidationError, _handle_validation)
    app.add_exception_handler(StarletteHTTPException, _handle_http)
    for db_error in (DBAPIError, psycopg.OperationalError, SQLAlchemyTimeoutError):
        app.add_exception_handler(db_error, _handle_database)
    app.add_exception_handler(Exception, _handle_unexpected)
