"""Problem responses and the FastAPI exception handlers that produce them (RFC 9457)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import psycopg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from sichrplace.kit.errors import (
    PROBLEM_JSON,
    FieldError,
    FieldErrors,
    InvalidValue,
    ProblemError,
    field_detail,
    problem_document,
)
from sichrplace.kit.i18n import DEFAULT_LANGUAGE, N_, NP_, Language, Msg
from sichrplace.platform.http.language import request_language
from sichrplace.platform.observability.errors import already_noted, report_exception

log = structlog.get_logger(__name__)


def problem_response(
    status: int,
    *,
    slug: str,
    title: Msg | None = None,
    detail: Msg | None = None,
    errors: FieldErrors | None = None,
    headers: Mapping[str, str] | None = None,
    instance: str | None = None,
    language: Language = DEFAULT_LANGUAGE,
) -> JSONResponse:
    """A problem+json response, its texts in `language` (said in Content-Language)."""
    body = problem_document(
        status,
        slug=slug,
        title=title,
        detail=detail,
        errors=errors,
        instance=instance,
        language=language,
    )
    return JSONResponse(
        body,
        status_code=status,
        headers={**(headers or {}), "Content-Language": language},
        media_type=PROBLEM_JSON,
    )


def response_of(
    problem: ProblemError, instance: str | None = None, language: Language = DEFAULT_LANGUAGE
) -> JSONResponse:
    return JSONResponse(
        problem.document(instance, language),
        status_code=problem.status,
        headers={**problem.headers, "Content-Language": language},
        media_type=PROBLEM_JSON,
    )


def _field_name(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "body"


MALFORMED_JSON = N_("is not valid JSON")


def validation_errors(exc: RequestValidationError) -> list[FieldError]:
    return [
        {
            # A malformed body is the body's fault (its location names the character).
            "field": "body" if err.get("type") == "json_invalid" else _field_name(err["loc"]),
            "message": validation_message(err),
        }
        for err in exc.errors()
    ]


def validation_message(err: Mapping[str, Any]) -> Msg:
    """A Pydantic error as a catalog message, by its type and context (its own text is
    English only)."""
    kind = str(err.get("type", ""))
    ctx = err.get("ctx") or {}
    if kind == "value_error":
        error = ctx.get("error")
        if isinstance(error, InvalidValue):
            return error.message
        if "email address" in str(err.get("msg", "")):
            return N_("is not a valid email address")
        return _INVALID
    if kind == "json_invalid":
        return MALFORMED_JSON
    if kind in _LENGTHS:
        return _LENGTHS[kind](int(ctx.get("min_length", ctx.get("max_length", 0))))
    if kind in _BOUNDS:
        return _BOUNDS[kind](ctx)
    if kind in ("enum", "literal_error"):
        return N_("must be one of {values}", values=ctx.get("expected", ""))
    if kind == "string_pattern_mismatch":
        return N_("must match the pattern {pattern}", pattern=ctx.get("pattern", ""))
    for prefix, message in _BY_PREFIX:
        if kind.startswith(prefix):
            return message
    return _INVALID


_INVALID = N_("is invalid")
_LENGTHS: dict[str, Callable[[int], Msg]] = {
    "string_too_short": lambda n: NP_(
        "must be at least {n} character long", "must be at least {n} characters long", n, n=n
    ),
    "string_too_long": lambda n: NP_(
        "must be at most {n} character long", "must be at most {n} characters long", n, n=n
    ),
    "too_short": lambda n: NP_(
        "must have at least {n} item", "must have at least {n} items", n, n=n
    ),
    "too_long": lambda n: NP_("must have at most {n} item", "must have at most {n} items", n, n=n),
}
_BOUNDS: dict[str, Callable[[Mapping[str, Any]], Msg]] = {
    "greater_than": lambda ctx: N_("must be greater than {limit}", limit=ctx.get("gt")),
    "greater_than_equal": lambda ctx: N_("must be at least {limit}", limit=ctx.get("ge")),
    "less_than": lambda ctx: N_("must be less than {limit}", limit=ctx.get("lt")),
    "less_than_equal": lambda ctx: N_("must be at most {limit}", limit=ctx.get("le")),
    "multiple_of": lambda ctx: N_("must be a multiple of {limit}", limit=ctx.get("multiple_of")),
}
# Types by their family (int_type, int_parsing, int_from_float, ...): the first prefix wins.
_BY_PREFIX: tuple[tuple[str, Msg], ...] = (
    ("missing", N_("is required")),
    ("extra_forbidden", N_("is not allowed")),
    ("int_", N_("must be a whole number")),
    ("float_", N_("must be a number")),
    ("decimal_", N_("must be a decimal number")),
    ("finite_number", N_("must be a finite number")),
    ("bool_", N_("must be true or false")),
    ("string_", N_("must be text")),
    ("uuid_", N_("must be a UUID")),
    ("date_", N_("must be a date as YYYY-MM-DD")),
    ("datetime_", N_("must be an RFC 3339 time with offset")),
    ("timezone_", N_("must carry a UTC offset")),
    ("time_", N_("must be a time of day")),
    ("dict_", N_("must be an object")),
    ("model_", N_("must be an object")),
    ("list_", N_("must be a list")),
    ("url_", N_("must be a URL")),
    ("json_", N_("must be JSON")),
    ("none_required", N_("must be null")),
)


async def _handle_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return response_of(exc, request.url.path, request_language(request))


def _json_media_type(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


async def _handle_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    language = request_language(request)
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
            detail=N_(
                "send the body as application/json, not {content_type}",
                content_type=content_type[:100],
            ),
            errors=[{"field": "body", "message": N_("must be application/json")}],
            instance=request.url.path,
            language=language,
        )
    errors = validation_errors(exc)
    malformed = any(e["message"] is MALFORMED_JSON for e in errors)
    detail = _joined([field_detail(e["field"], e["message"]) for e in errors])
    return problem_response(
        400 if malformed else 422,
        slug="malformed-json" if malformed else "validation-error",
        title=N_("Malformed request body") if malformed else N_("Invalid input"),
        detail=detail,
        errors=errors,
        instance=request.url.path,
        language=language,
    )


def _joined(parts: Sequence[Msg]) -> Msg:
    """Several field messages as one detail, "a: ...; b: ..." in any language."""
    if not parts:
        return N_("Invalid input")
    joined = parts[0]
    for part in parts[1:]:
        joined = N_("{first}; {rest}", first=joined, rest=part)
    return joined


async def _handle_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request, headers.get("Allow", ""))
    # Starlette's own (routing) errors: their detail is the status phrase, so the title is
    # the whole message.
    return problem_response(
        exc.status_code,
        slug=slug,
        headers=headers,
        instance=request.url.path,
        language=request_language(request),
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
        detail=N_("The database cannot serve this request right now; retry shortly."),
        headers={"Retry-After": "2"},
        instance=request.url.path,
        language=request_language(request),
    )


async def _handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    if not already_noted(exc):  # see observability.errors.note_unhandled
        log.exception("unhandled_error", path=request.url.path)
        report_exception(exc)
    return problem_response(
        500,
        slug="internal-error",
        detail=N_("An unexpected error occurred."),
        language=request_language(request),
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _handle_problem)
    app.add_exception_handler(RequestValidationError, _handle_validation)
    app.add_exception_handler(StarletteHTTPException, _handle_http)
    for db_error in (DBAPIError, psycopg.OperationalError, SQLAlchemyTimeoutError):
        app.add_exception_handler(db_error, _handle_database)
    app.add_exception_handler(Exception, _handle_unexpected)
