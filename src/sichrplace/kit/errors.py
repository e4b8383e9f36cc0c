"""RFC 9457 problem details: one exception type with stable `type` URIs (no web framework).

Services and rules raise these; `platform/http/problems.py` turns them into responses. Titles,
details and field messages are `Msg`s (kit/i18n.py): the response renders them in the
caller's language; `str(problem)` is the English detail (for logs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar, TypedDict

from sichrplace.kit.i18n import DEFAULT_LANGUAGE, N_, Language, Msg

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://sichrplace.de/problems/"


class FieldError(TypedDict):
    """One input at fault: its name as the client sent it, and what is wrong with it."""

    field: str
    message: Msg


FieldErrors = Sequence[FieldError]

# The titles of the statuses the API answers (the reason phrases, translated).
TITLES: Mapping[int, Msg] = {
    400: N_("Bad Request"),
    401: N_("Unauthorized"),
    402: N_("Payment Required"),
    403: N_("Forbidden"),
    404: N_("Not Found"),
    405: N_("Method Not Allowed"),
    409: N_("Conflict"),
    410: N_("Gone"),
    413: N_("Request Entity Too Large"),
    414: N_("Request-URI Too Long"),
    415: N_("Unsupported Media Type"),
    422: N_("Unprocessable Entity"),
    429: N_("Too Many Requests"),
    500: N_("Internal Server Error"),
    502: N_("Bad Gateway"),
    503: N_("Service Unavailable"),
    504: N_("Gateway Timeout"),
}


def title_of(status: int) -> Msg:
    return TITLES.get(status) or Msg(HTTPStatus(status).phrase)


class ProblemError(Exception):
    """An error that becomes an application/problem+json response."""

    status: int = 500
    slug: str = "internal-error"
    # The request's unit of work commits before the problem is answered (a refused request
    # whose side of the story must persist, e.g. a revoked token family); default: roll back.
    commits: ClassVar[bool] = False

    def __init__(
        self,
        detail: Msg | None = None,
        *,
        status: int | None = None,
        slug: str | None = None,
        title: Msg | None = None,
        errors: FieldErrors | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status or self.status
        self.slug = slug or self.slug
        self.title = title or title_of(self.status)
        self.detail = detail or self.title
        self.errors = list(errors or [])
        self.headers = dict(headers or {})
        super().__init__(str(self.detail))

    def document(
        self, instance: str | None = None, language: Language = DEFAULT_LANGUAGE
    ) -> dict[str, Any]:
        return problem_document(
            self.status,
            slug=self.slug,
            title=self.title,
            detail=self.detail,
            errors=self.errors,
            instance=instance,
            language=language,
        )


class InvalidValue(ValueError):
    """Raised by a Pydantic validator: the field's message in both languages (the validation
    handler shows `message`; Pydantic's own text is the English one)."""

    def __init__(self, message: Msg) -> None:
        super().__init__(str(message))
        self.message = message


class BadRequest(ProblemError):
    status, slug = 400, "bad-request"


class Unauthorized(ProblemError):
    status, slug = 401, "unauthorized"

    def __init__(self, detail: Msg | None = None, **kw: Any) -> None:
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
    def field(cls, field: str, message: Msg, *, slug: str | None = None) -> Unprocessable:
        return cls(
            field_detail(field, message),
            errors=[{"field": field, "message": message}],
            slug=slug,
        )


class TooManyRequests(ProblemError):
    status, slug = 429, "rate-limited"

    def __init__(self, retry_after: int, detail: Msg | None = None, **kw: Any) -> None:
        kw["headers"] = {"Retry-After": str(max(1, retry_after))}
        super().__init__(detail, **kw)


class ServiceUnavailable(ProblemError):
    status, slug = 503, "service-unavailable"

    def __init__(self, detail: Msg | None = None, retry_after: int = 5, **kw: Any) -> None:
        kw["headers"] = {"Retry-After": str(retry_after)}
        super().__init__(detail, **kw)


def field_detail(field: str, message: Msg) -> Msg:
    """The detail of a problem with one field: "<field>: <message>" (the field as named)."""
    return N_("{field}: {message}", field=field, message=message)


def problem_document(
    status: int,
    *,
    slug: str,
    title: Msg | None = None,
    detail: Msg | None = None,
    errors: FieldErrors | None = None,
    instance: str | None = None,
    language: Language = DEFAULT_LANGUAGE,
) -> dict[str, Any]:
    """The problem+json body, its texts in `language`."""
    shown_title = (title or title_of(status)).render(language)
    body: dict[str, Any] = {
        "type": TYPE_BASE + slug,
        "title": shown_title,
        "status": status,
        "detail": detail.render(language) if detail is not None else shown_title,
    }
    if errors:
        body["errors"] = [
            {"field": error["field"], "message": error["message"].render(language)}
            for error in errors
        ]
    if instance:
        body["instance"] = instance
    return body
