"""RFC 9457 problem details: one exception type with stable `type` URIs (no web framework).

Services and rules raise these; `platform/http/problems.py` turns them into responses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://sichrplace.de/problems/"


class ProblemError(Exception):
    """An error that becomes an application/problem+json response."""

    status: int = 500
    slug: str = "internal-error"
    # The request's unit of work commits before the problem is answered (a refused request
    # whose side of the story must persist, e.g. a revoked token family); default: roll back.
    commits: ClassVar[bool] = False

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

    def document(self, instance: str | None = None) -> dict[str, Any]:
        return problem_document(
            self.status,
            slug=self.slug,
            title=self.title,
            detail=self.detail,
            errors=self.errors,
            instance=instance,
        )


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


def problem_document(
    status: int,
    *,
    slug: str,
    title: str | None = None,
    detail: str | None = None,
    errors: Sequence[Mapping[str, str]] | None = None,
    instance: str | None = None,
) -> dict[str, Any]:
    """The problem+json body."""
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
    return body
