"""The OpenAPI document tells the truth about errors: every problem response is
application/problem+json with the `Problem` schema (what `kit/errors.problem_document` builds).

Each operation declares its own statuses on its decorator with `problems(...)`;
`install_openapi` adds what the platform's middleware answers on every route (413 and 400 for
bodies, 503 when admission or the database refuses) and replaces FastAPI's default 422 body
(`HTTPValidationError`, never sent) with `Problem`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

from sichrplace.kit.errors import PROBLEM_JSON, TYPE_BASE

PROBLEM_REF = "#/components/schemas/Problem"


class FieldError(BaseModel):
    field: str = Field(description="the input at fault, dotted (`body`, `rooms`, `amenities.0`)")
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, as every error of this API is answered.

    `title`, `detail` and `errors[].message` are German or English (the `Content-Language`
    header says which): a signed-in caller's language (`PATCH /me`), otherwise the request's
    `Accept-Language` (q-values honoured), otherwise German. `type`, `status` and the field
    names are the same in both."""

    # Problem types may carry extension members (RFC 9457 §3.2).
    model_config = ConfigDict(extra="allow")

    type: str = Field(
        description=f"stable URI of the kind of problem: {TYPE_BASE}<slug>",
        pattern="^" + TYPE_BASE.replace(".", r"\.") + "[a-z0-9-]+$",
    )
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    instance: str | None = Field(default=None, description="the request path")
    errors: list[FieldError] | None = Field(
        default=None, description="one entry per input at fault (validation problems)"
    )


_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before retrying",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}
_WWW_AUTHENTICATE = {
    "WWW-Authenticate": {
        "description": "the scheme to authenticate with (Bearer)",
        "required": True,
        "schema": {"type": "string"},
    }
}

DESCRIPTIONS: dict[int, str] = {
    400: "Malformed request (a body that is not JSON)",
    401: "Missing, invalid or expired credentials",
    402: "The payment provider declined the payment",
    403: "The caller's role or ownership does not allow this",
    404: "No such resource (or not visible to the caller)",
    409: "Conflicts with the resource's current state",
    413: "Request body too large",
    414: "Request line too long (nginx: query strings over its header buffer)",
    415: "The body is not sent as application/json",
    422: "Invalid input: `errors` names each field at fault",
    429: "Too many requests: retry after `Retry-After` seconds",
    503: "A dependency (database, capacity) is unavailable: retry after `Retry-After` seconds",
}
_HEADERS: dict[int, dict[str, Any]] = {401: _WWW_AUTHENTICATE, 429: _RETRY_AFTER, 503: _RETRY_AFTER}


def problem_response(status: int, description: str | None = None) -> dict[str, Any]:
    """One OpenAPI response object: problem+json with the Problem schema."""
    out: dict[str, Any] = {
        "description": description or DESCRIPTIONS[status],
        "content": {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}},
    }
    if status in _HEADERS:
        out["headers"] = dict(_HEADERS[status])
    return out


def problems(*statuses: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: `problems(401, 404, s409="archived listings stay archived")`
    (a description per status as `s<status>=`)."""
    return {status: problem_response(status, descriptions.get(f"s{status}")) for status in statuses}


def _has_body(operation: dict[str, Any]) -> bool:
    return "requestBody" in operation


def _takes_json(operation: dict[str, Any]) -> bool:
    return "application/json" in operation.get("requestBody", {}).get("content", {})


def finish_document(document: dict[str, Any], api_prefix: str) -> dict[str, Any]:
    """Problem everywhere a problem is answered: the default 422 body replaced, the statuses
    the middleware answers on every route added, the Problem schema in the components."""
    components = document.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(problem_schema.pop("$defs", {}))
    components["Problem"] = problem_schema
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            responses: dict[str, Any] = operation.setdefault("responses", {})
            if _has_body(operation) or operation.get("parameters"):
                responses.setdefault("422", {})
            if _has_body(operation):
                # InputGuardMiddleware and the JSON decoder answer these on any body.
                responses.setdefault("400", {})
                responses.setdefault("413", {})
            if _takes_json(operation):
                responses.setdefault("415", {})  # a JSON body sent as another media type
            if any(p.get("in") == "query" for p in operation.get("parameters", [])):
                # nginx refuses a request line longer than its header buffers.
                responses.setdefault("414", {})
            if path.startswith(api_prefix):
                # AdmissionMiddleware (capacity) and the database handler (pool, timeouts).
                responses.setdefault("503", {})
            for code, response in responses.items():
                if code.isdigit() and int(code) >= 400:
                    described = response.get("description")
                    fresh = problem_response(int(code))
                    if described and described != "Validation Error":
                        fresh["description"] = described
                    response.clear()
                    response.update(fresh)
    return document


def install_openapi(app: FastAPI, api_prefix: str) -> None:
    """Build the document once, post-processed by `finish_document`."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = finish_document(document, api_prefix)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
