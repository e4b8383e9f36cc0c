"""The pages' way to the API: the public JSON API of this same process, called in-process.

A page does what a client of the API would do (docs/adr/0010-web-pages-call-the-api.md): it
calls `/api/v1/...` with the signed-in user's bearer token, in the page's language, and
renders the answer. The rules, validation, problem+json errors, caching and read routing
are the API's own; nothing is decided twice. The call goes through the application's ASGI
stack without a socket (httpx's ASGITransport): request ids, traces and metrics see it as the
API request it is, and admission control lets it through, as the page holding it was
admitted already.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import structlog
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from sichrplace.kit.i18n import Language
from sichrplace.platform.http.middleware import INTERNAL

API = "/api/v1"


class _Internal:
    """Marks the scope of every call as internal, then runs the whole application."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[INTERNAL] = True
        await self.app(scope, receive, send)


@dataclass(frozen=True, slots=True)
class ApiProblem(Exception):
    """A 4xx/5xx answer of the API: its problem+json body (title, detail, errors[])."""

    status: int
    body: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return str(self.body.get("title") or "")

    @property
    def detail(self) -> str:
        return str(self.body.get("detail") or self.title)

    @property
    def slug(self) -> str:
        return str(self.body.get("type") or "").rsplit("/", 1)[-1]

    def field_errors(self) -> dict[str, str]:
        """What the API said per field (the last part of each error's `loc`/`field`)."""
        found: dict[str, str] = {}
        for error in self.body.get("errors") or ():
            if not isinstance(error, Mapping):
                continue
            name = error.get("field") or ".".join(str(p) for p in error.get("loc") or ())
            key = str(name).rsplit(".", 1)[-1] if name else ""
            found.setdefault(key, str(error.get("message") or error.get("msg") or ""))
        return found


@dataclass(frozen=True, slots=True)
class ApiResponse:
    status: int
    headers: httpx.Headers
    content: bytes

    def json(self) -> Any:
        return orjson.loads(self.content) if self.content else None


class ApiClient:
    """One page request's calls to the API, as `token`'s holder, in `language`."""

    def __init__(self, request: Request, *, token: str | None, language: Language) -> None:
        self._request = request
        self.token = token
        self.language = language

    def _headers(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = {"Accept-Language": self.language, "Accept": "application/json"}
        request_id = getattr(self._request.state, "request_id", None)
        if request_id:
            headers["X-Request-ID"] = request_id
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if extra:
            headers.update(extra)
        return headers

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        files: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> ApiResponse:
        """`path` under /api/v1; a 4xx/5xx raises ApiProblem."""
        client_addr = self._request.client
        transport = httpx.ASGITransport(
            app=_Internal(self._request.app),
            client=(client_addr.host, client_addr.port) if client_addr else ("127.0.0.1", 0),
        )
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            response = await http.request(
                method,
                API + path,
                params={k: v for k, v in (params or {}).items() if v not in (None, "")},
                content=orjson.dumps(json) if json is not None else None,
                files=files,
                headers={
                    **self._headers(headers),
                    **({"Content-Type": "application/json"} if json is not None else {}),
                },
            )
        # The inner request's middleware unbinds its request id from the shared context.
        request_id = getattr(self._request.state, "request_id", None)
        if request_id:
            structlog.contextvars.bind_contextvars(request_id=request_id)
        result = ApiResponse(response.status_code, response.headers, response.content)
        if response.status_code >= 400:
            try:
                body = result.json()
            except orjson.JSONDecodeError:
                body = {"title": response.reason_phrase}
            raise ApiProblem(
                response.status_code,
                body if isinstance(body, Mapping) else {},
                dict(response.headers),
            )
        return result

    async def get(self, path: str, **params: Any) -> Any:
        return (await self.call("GET", path, params=params)).json()

    async def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return (
            await self.call("POST", path, json=body if body is not None else {}, **kwargs)
        ).json()

    async def patch(self, path: str, body: Any) -> Any:
        return (await self.call("PATCH", path, json=body)).json()

    async def delete(self, path: str, body: Any = None) -> Any:
        return (await self.call("DELETE", path, json=body)).json()
