"""Pure-ASGI middleware: request ids, the input guard (body size, text), admission, contained
errors."""

from __future__ import annotations

import json
import re
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sichrplace.kit.errors import ServiceUnavailable, field_detail
from sichrplace.kit.i18n import N_, Msg
from sichrplace.kit.text import json_problem, path_problem, query_problem
from sichrplace.platform import synthetic
from sichrplace.platform.bulkhead import Bulkhead
from sichrplace.platform.http.language import scope_language
from sichrplace.platform.http.problems import problem_response

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdMiddleware:
    """Take X-Request-ID from the load balancer (or make one), echo it and bind it to logs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        # A synthetic monitor's request (ops/synthetic): counters and analytics leave it out.
        if synthetic.header_marks(headers.get(synthetic.HEADER_KEY)):
            with synthetic.marked(), structlog.contextvars.bound_contextvars(synthetic=True):
                await self._call(scope, receive, send, request_id)
            return
        await self._call(scope, receive, send, request_id)

    async def _call(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")


class InputGuardMiddleware:
    """Refuse input the app must never see, before any endpoint runs (one rule instead of a
    check per endpoint), in one layer because both need the whole body:
    - bodies above the limit: 413. The body is buffered here (at most the limit) and
      replayed, so an oversized chunked body is refused as cleanly as one with an honest
      Content-Length;
    - text that Postgres or our documents cannot hold (kit/text.py) in the query string, the
      path or a JSON body: 422 naming the field.

    Cheap on the hot path: a GET whose query and path have no '%' or NUL is passed after two
    byte scans; a JSON body without a `\\u` escape after one (raw NUL and invalid UTF-8 are
    not JSON).
    """

    def __init__(self, app: ASGIApp, *, json_limit: int, upload_limit: int) -> None:
        self.app = app
        self.json_limit = json_limit
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found = query_problem(scope.get("query_string", b""))
        if found is None:
            path_message = path_problem(scope.get("raw_path") or scope["path"].encode())
            if path_message is not None:
                found = ("path", path_message)
        if found is not None:
            await _reject_text(scope, receive, send, *found)
            return
        method = scope["method"]
        if method in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        ctype = headers.get(b"content-type", b"").decode("latin-1").lower()
        limit = self.upload_limit if ctype.startswith("multipart/") else self.json_limit
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _reject_size(scope, receive, send, limit)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _reject_size(scope, receive, send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        # FastAPI reads a body without a type as JSON; a DELETE's body is never read.
        if method != "DELETE" and (not ctype or "json" in ctype) and b"\\u" in body:
            try:
                # stdlib json keeps lone surrogates (orjson refuses them as malformed)
                found = json_problem(json.loads(body))
            except ValueError:
                found = None  # malformed: the app answers 400 as before
            if found is not None:
                await _reject_text(scope, receive, send, *found)
                return
        await self.app(scope, _replaying(body, receive), send)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the already-buffered body to the app once, then the client's."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _reject_size(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    response = problem_response(
        413,
        slug="payload-too-large",
        detail=N_("request body exceeds {n} bytes", n=limit),
        errors=[{"field": "body", "message": N_("larger than {n} bytes", n=limit)}],
        language=scope_language(scope),
    )
    await response(scope, receive, send)


async def _reject_text(scope: Scope, receive: Receive, send: Send, field: str, msg: Msg) -> None:
    response = problem_response(
        422,
        slug="validation-error",
        title=N_("Invalid input"),
        detail=field_detail(field, msg),
        errors=[{"field": field, "message": msg}],
        instance=scope["path"],
        language=scope_language(scope),
    )
    await response(scope, receive, send)


class ContainErrorsMiddleware:
    """The outermost layer: an exception that escapes the app never reaches the server.

    Starlette re-raises an unhandled exception after its 500 handler answered, and the server
    then closes the connection; with keep-alive, the load balancer sees a reset on a reused
    connection and takes a healthy instance out of rotation. The error is already logged and
    answered by then, so it stops here (or is answered here if nothing was sent yet).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            if not started:
                response = problem_response(
                    500, slug="internal-error", language=scope_language(scope)
                )
                await response(scope, receive, send)


# Set on the scope of a request a page makes to the API in-process (web/client.py): the page
# holds an admission slot already, and a second one for its call could wait on itself.
INTERNAL = "sichrplace.internal"


class AdmissionMiddleware:
    """At most `bulkhead.limit` requests of this process run at once; the others wait their
    turn in arrival order (up to the bulkhead's max wait, then 503 with Retry-After).

    Why: under saturation an event loop interleaves every request it has accepted, and one
    that awaits Postgres comes back behind all of them; admitted a few at a time, that round is
    a few requests long, and the rest queue before they start rather than in the middle
    (measured: docs/performance-log.md, round 8). `exempt` paths (health, metrics) never wait.
    A slot is held until the response is sent: nginx buffers responses, so a slow client does
    not hold one, but an endpoint that streams for long (events, long polls) would have to be
    exempt.
    """

    def __init__(self, app: ASGIApp, *, bulkhead: Bulkhead, exempt: tuple[str, ...]) -> None:
        self.app = app
        self.bulkhead = bulkhead
        self.exempt = frozenset(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt or INTERNAL in scope:
            await self.app(scope, receive, send)
            return
        try:
            await self.bulkhead.enter()
        except ServiceUnavailable as exc:  # outside the app: its error handlers are not here
            response = problem_response(
                exc.status,
                slug=exc.slug,
                detail=exc.detail,
                headers=exc.headers,
                language=scope_language(scope),
            )
            await response(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.bulkhead.leave()
