"""A fake Google Geocoding API: `GET /maps/api/geocode/json`, the documented JSON, failure modes.

Modes (per request; `queue()` scripts the next N answers, then `mode` applies):
  ok | zero_results | over_query_limit | request_denied | invalid_request | unknown_error |
  http_500 | slow (sleeps `slow_seconds`, then answers ok)
A request without `key` gets REQUEST_DENIED and one without `address`/`components` gets
INVALID_REQUEST, as Google does. Coordinates are deterministic: the centre of the city that
owns the postal code's first two digits, plus a small address-derived offset.

In tests: `with run_fake_google_maps() as fake: fake.url ...`. Standalone (for the stack):
`python -m tests.fakes.google_maps --port 58090`; control it over HTTP with
`POST /_fake/mode {"mode": "...", "queue": [...]}`, `GET /_fake/requests`, `POST /_fake/reset`.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.fakes.server import ThreadedServer

MODES = (
    "ok",
    "zero_results",
    "over_query_limit",
    "request_denied",
    "invalid_request",
    "unknown_error",
    "http_500",
    "slow",
)

# First two digits of a German postal code -> (lat, lng) of a city in that area.
REGION_CENTRES: dict[str, tuple[float, float, str]] = {
    "01": (51.0504, 13.7373, "Dresden"),
    "04": (51.3397, 12.3731, "Leipzig"),
    "10": (52.5200, 13.4050, "Berlin"),
    "12": (52.4500, 13.4500, "Berlin"),
    "20": (53.5511, 9.9937, "Hamburg"),
    "22": (53.5800, 10.0300, "Hamburg"),
    "30": (52.3759, 9.7320, "Hannover"),
    "40": (51.2277, 6.7735, "Düsseldorf"),
    "50": (50.9375, 6.9603, "Köln"),
    "60": (50.1109, 8.6821, "Frankfurt am Main"),
    "70": (48.7758, 9.1829, "Stuttgart"),
    "80": (48.1351, 11.5820, "München"),
    "90": (49.4521, 11.0767, "Nürnberg"),
}
GERMANY_CENTRE = (51.1657, 10.4515)


def fake_location(address: str, postal_code: str) -> tuple[float, float]:
    lat, lng = REGION_CENTRES.get(postal_code[:2], (*GERMANY_CENTRE, ""))[:2]
    digest = hashlib.sha256(address.casefold().encode()).digest()
    # within about +-3 km of the centre, stable per address
    return (
        round(lat + (digest[0] - 128) / 128 * 0.027, 7),
        round(lng + (digest[1] - 128) / 128 * 0.04, 7),
    )


def _postal_code(components: str) -> str:
    for part in components.split("|"):
        name, _, value = part.partition(":")
        if name == "postal_code":
            return value
    return ""


def ok_body(address: str, postal_code: str) -> dict[str, Any]:
    lat, lng = fake_location(address, postal_code)
    return {
        "results": [
            {
                "address_components": [
                    {"long_name": postal_code, "short_name": postal_code, "types": ["postal_code"]},
                    {"long_name": "Deutschland", "short_name": "DE", "types": ["country"]},
                ],
                "formatted_address": f"{address}, Deutschland",
                "geometry": {
                    "location": {"lat": lat, "lng": lng},
                    "location_type": "ROOFTOP",
                    "viewport": {
                        "northeast": {"lat": lat + 0.0013, "lng": lng + 0.0013},
                        "southwest": {"lat": lat - 0.0013, "lng": lng - 0.0013},
                    },
                },
                "place_id": "fake_" + hashlib.sha256(address.encode()).hexdigest()[:24],
                "types": ["street_address"],
            }
        ],
        "status": "OK",
    }


def _status_body(status: str, message: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"results": [], "status": status}
    if message:
        body["error_message"] = message
    return body


class FakeGoogleMaps:
    def __init__(self) -> None:
        self.mode = "ok"
        self.slow_seconds = 2.0
        self.requests: list[dict[str, str]] = []
        self._queue: deque[str] = deque()
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route("/maps/api/geocode/json", self._geocode, methods=["GET"]),
                Route("/_fake/mode", self._set_mode, methods=["POST"]),
                Route("/_fake/requests", self._list_requests, methods=["GET"]),
                Route("/_fake/reset", self._reset, methods=["POST"]),
            ]
        )
        self.server: ThreadedServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None, "not running"
        return self.server.url

    def queue(self, *modes: str) -> None:
        """The next len(modes) requests get these modes, in order."""
        for mode in modes:
            if mode not in MODES:
                raise ValueError(mode)
        with self._lock:
            self._queue.extend(modes)

    def reset(self, mode: str = "ok") -> None:
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self.mode = mode

    def calls(self) -> int:
        with self._lock:
            return len(self.requests)

    def _next_mode(self, params: dict[str, str]) -> str:
        with self._lock:
            self.requests.append(params)
            return self._queue.popleft() if self._queue else self.mode

    async def _geocode(self, request: Request) -> Response:
        params = dict(request.query_params)
        mode = self._next_mode(params)
        if mode == "slow":
            await asyncio.sleep(self.slow_seconds)
            mode = "ok"
        if mode == "http_500":
            return PlainTextResponse("<html>Server Error</html>", status_code=500)
        if not params.get("key") or mode == "request_denied":
            return JSONResponse(_status_body("REQUEST_DENIED", "The provided API key is invalid. "))
        address, components = params.get("address", ""), params.get("components", "")
        if not (address or components) or mode == "invalid_request":
            return JSONResponse(_status_body("INVALID_REQUEST", "Invalid request."))
        if mode == "over_query_limit":
            msg = "You have exceeded your rate-limit for this API."
            return JSONResponse(_status_body("OVER_QUERY_LIMIT", msg))
        if mode == "unknown_error":
            return JSONResponse(_status_body("UNKNOWN_ERROR"))
        if mode == "zero_results":
            return JSONResponse(_status_body("ZERO_RESULTS"))
        return JSONResponse(ok_body(address, _postal_code(components)))

    async def _set_mode(self, request: Request) -> Response:
        data = await request.json()
        self.reset(data.get("mode", "ok"))
        self.queue(*data.get("queue", []))
        return JSONResponse({"mode": self.mode})

    async def _list_requests(self, request: Request) -> Response:
        with self._lock:
            return JSONResponse(list(self.requests))

    async def _reset(self, request: Request) -> Response:
        self.reset()
        return JSONResponse({"mode": self.mode})


@contextmanager
def run_fake_google_maps(port: int | None = None) -> Iterator[FakeGoogleMaps]:
    fake = FakeGoogleMaps()
    with ThreadedServer(fake.app, port=port) as server:
        fake.server = server
        yield fake


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=58090)
    args = parser.parse_args()
    uvicorn.run(FakeGoogleMaps().app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
