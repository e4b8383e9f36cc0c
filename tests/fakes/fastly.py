"""A fake of Fastly's purge API: `POST /service/{service_id}/purge` by surrogate key, as
documented (https://www.fastly.com/documentation/reference/api/purging/), with its failures.

Keys come from the `Surrogate-Key` header (space-separated) or a JSON body
`{"surrogate_keys": [...]}`; `Fastly-Key` must be the fake's token (else 401
`{"msg": "Provided credentials are missing or invalid"}`), the service must be the fake's
(else 404); more than 256 keys is a 400. Success: 200 `{"<key>": "<purge id>", …}`.
Modes (per request; `queue()` scripts the next answers, then `mode` applies):
  ok | forbidden (403) | rate_limited (429, Retry-After: `retry_after`) | http_500 | http_503 |
  slow (sleeps `slow_seconds`, then ok)

In tests: `with run_fake_fastly() as fake: fake.url …`; `fake.requests` holds each request's
service, keys, Fastly-Key and Fastly-Soft-Purge.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import ThreadedServer

MODES = ("ok", "forbidden", "rate_limited", "http_500", "http_503", "slow")
SERVICE_ID = "SU1Z0isxPaozGVKXdv0eY"
TOKEN = "fake-fastly-api-token-0123456789ab"


@dataclass(frozen=True)
class PurgeRequest:
    service_id: str
    keys: tuple[str, ...]
    token: str
    soft: bool


class FakeFastly:
    def __init__(self) -> None:
        self.mode = "ok"
        self.retry_after = "0"
        self.slow_seconds = 1.0
        self.requests: list[PurgeRequest] = []
        self._queue: deque[str] = deque()
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[Route("/service/{service_id}/purge", self._purge, methods=["POST"])]
        )
        self.server: ThreadedServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None, "not running"
        return self.server.url

    def queue(self, *modes: str) -> None:
        for mode in modes:
            if mode not in MODES:
                raise ValueError(mode)
        with self._lock:
            self._queue.extend(modes)

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self.mode = "ok"
            self.retry_after = "0"

    def purged_keys(self) -> list[str]:
        with self._lock:
            return [key for r in self.requests for key in r.keys]

    async def _purge(self, request: Request) -> Response:
        keys = tuple(request.headers.get("surrogate-key", "").split())
        if not keys and await request.body():
            body = orjson.loads(await request.body())
            keys = tuple(body.get("surrogate_keys", []))
        purge = PurgeRequest(
            service_id=request.path_params["service_id"],
            keys=keys,
            token=request.headers.get("fastly-key", ""),
            soft=request.headers.get("fastly-soft-purge") == "1",
        )
        with self._lock:
            self.requests.append(purge)
            mode = self._queue.popleft() if self._queue else self.mode
        if mode == "slow":
            await asyncio.sleep(self.slow_seconds)
            mode = "ok"
        if purge.token != TOKEN:
            return JSONResponse({"msg": "Provided credentials are missing or invalid"}, 401)
        if mode == "forbidden":
            return JSONResponse({"msg": "You are not authorized to perform this action"}, 403)
        if purge.service_id != SERVICE_ID:
            return JSONResponse({"msg": "Record not found", "detail": "Cannot find service"}, 404)
        if mode == "rate_limited":
            return JSONResponse(
                {"msg": "Too many requests"}, 429, headers={"Retry-After": self.retry_after}
            )
        if mode == "http_500":
            return Response("<html>Internal Server Error</html>", 500)
        if mode == "http_503":
            return Response("<html>Service Unavailable</html>", 503)
        if not keys or len(keys) > 256:
            return JSONResponse({"msg": "Bad request", "detail": "1 to 256 surrogate keys"}, 400)
        return JSONResponse({key: f"{uuid.uuid4().int % 10**15}-1727000000-0" for key in keys})


@contextmanager
def run_fake_fastly(port: int | None = None) -> Iterator[FakeFastly]:
    fake = FakeFastly()
    with ThreadedServer(fake.app, port=port) as server:
        fake.server = server
        yield fake
