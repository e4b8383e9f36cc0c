"""What both fake providers share: their configuration, injected faults, the webhook outbox
(asynchronous signed deliveries with retries, holding, reverse release, duplicates), the
German approval page and the `/_fake/` control routes.

A fake stands in for a third party: its objects live in its memory, like the provider's
live in the provider's database, and are gone when it restarts. All state is touched only
from the server's event loop, so it needs no locks beyond per-key asyncio locks.
"""

from __future__ import annotations

import asyncio
import html
import random
import secrets
import string
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

import httpx
import orjson
import structlog
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from sichrplace.integrations.payments import (
    DEV_PAYPAL_CLIENT_ID,
    DEV_PAYPAL_CLIENT_SECRET,
    DEV_PAYPAL_WEBHOOK_ID,
    DEV_STRIPE_SECRET_KEY,
    DEV_STRIPE_WEBHOOK_SECRET,
)
from sichrplace.integrations.payments.money import cents_to_decimal

log = structlog.get_logger(__name__)

Op = Literal["create", "capture", "refund", "get", "list"]
Fault = Literal["timeout", "http_500", "rate_limit", "decline"]
OPS: Final = ("create", "capture", "refund", "get", "list")
FAULTS: Final = ("timeout", "http_500", "rate_limit", "decline")


@dataclass(frozen=True)
class FakeConfig:
    """How one fake runs. Secrets default to the development values the API uses."""

    # Where webhooks go (None: nowhere; events are still recorded in /_fake/events).
    webhook_url: str | None = None
    # The base of approval links; None: the URL the request came in on.
    public_url: str | None = None
    # Stripe: the API key it accepts and the endpoint secret it signs webhooks with.
    secret_key: str = DEV_STRIPE_SECRET_KEY
    webhook_secret: str = DEV_STRIPE_WEBHOOK_SECRET
    # PayPal: the client credentials it accepts and the webhook id deliveries belong to.
    client_id: str = DEV_PAYPAL_CLIENT_ID
    client_secret: str = DEV_PAYPAL_CLIENT_SECRET
    webhook_id: str = DEV_PAYPAL_WEBHOOK_ID
    token_ttl_seconds: int = 32400
    # A failed delivery (non-2xx or no answer) is tried again after each of these delays
    # (the providers retry for days with growing gaps; a fake compresses that).
    webhook_retry_delays: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0)
    webhook_timeout_seconds: float = 10.0
    # A "timeout" fault holds its answer this long (longer than the client's timeout).
    timeout_hold_seconds: float = 10.0


def random_id(prefix: str, length: int = 24, *, alphabet: str | None = None) -> str:
    chars = alphabet or (string.ascii_letters + string.digits)
    return prefix + "".join(secrets.choice(chars) for _ in range(length))


def now_unix() -> int:
    return int(time.time())


def iso_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def json_response(body: Any, status_code: int = 200, **headers: str) -> Response:
    return Response(
        orjson.dumps(body), status_code=status_code, media_type="application/json", headers=headers
    )


class Faults:
    """Scripted failures: the next `times` requests of an operation fail this way."""

    def __init__(self) -> None:
        self._queued: dict[str, deque[tuple[Fault, float | None]]] = {op: deque() for op in OPS}

    def add(self, op: Op, fault: Fault, times: int, seconds: float | None = None) -> None:
        self._queued[op].extend([(fault, seconds)] * times)

    def take(self, op: Op) -> tuple[Fault, float | None] | None:
        queue = self._queued[op]
        return queue.popleft() if queue else None

    def clear(self) -> None:
        for queue in self._queued.values():
            queue.clear()

    def pending(self) -> dict[str, list[str]]:
        return {op: [f for f, _ in q] for op, q in self._queued.items() if q}


@dataclass
class Delivery:
    attempt: int
    status: int | None
    error: str | None
    at: str


@dataclass
class Event:
    id: str
    type: str
    ref: str
    body: bytes
    deliveries: list[Delivery] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "ref": self.ref,
            "event": orjson.loads(self.body),
            "deliveries": [d.__dict__ for d in self.deliveries],
        }


Signer = Callable[[bytes], dict[str, str]]


class Outbox:
    """Signed webhook deliveries to `config.webhook_url`, asynchronous, retried on failure."""

    def __init__(self, config: FakeConfig, sign: Signer) -> None:
        self.config = config
        self.sign = sign
        self.events: dict[str, Event] = {}
        self._held: list[str] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self.config.webhook_timeout_seconds)
        return self._http

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def emit(self, event_id: str, event_type: str, ref: str, payload: dict[str, Any]) -> None:
        """Record an event and deliver it (now, or when released if deliveries are held)."""
        body = orjson.dumps(payload)
        self.events[event_id] = Event(event_id, event_type, ref, body)
        self._enqueue(event_id)

    def _enqueue(self, event_id: str) -> None:
        if self._held is not None:
            self._held.append(event_id)
        else:
            self._spawn(self._deliver_with_retries(event_id))

    def redeliver(self, event_id: str, times: int) -> bool:
        if event_id not in self.events:
            return False
        for _ in range(times):
            self._enqueue(event_id)
        return True

    def hold(self) -> None:
        if self._held is None:
            self._held = []

    def release(self) -> int:
        """Deliver what was held, newest first (out of order), one after the other."""
        held, self._held = self._held or [], None

        async def in_reverse() -> None:
            for event_id in reversed(held):
                await self._deliver_with_retries(event_id)

        self._spawn(in_reverse())
        return len(held)

    def reset(self) -> None:
        self._held = None

    def busy(self) -> bool:
        """Deliveries under way (being sent, or waiting to retry)."""
        return bool(self._tasks)

    async def _deliver_with_retries(self, event_id: str) -> None:
        delays = self.config.webhook_retry_delays
        for attempt in range(1, len(delays) + 2):
            if await self._deliver_once(event_id):
                return
            if attempt <= len(delays):
                await asyncio.sleep(delays[attempt - 1])
        log.warning("fake_webhook_gave_up", event_id=event_id)

    async def _deliver_once(self, event_id: str) -> bool:
        event = self.events[event_id]
        url = self.config.webhook_url
        attempt = len(event.deliveries) + 1
        if not url:
            event.deliveries.append(Delivery(attempt, None, "no webhook_url", iso_now()))
            return True
        headers = {"Content-Type": "application/json", **self.sign(event.body)}
        try:
            response = await self._client().post(url, content=event.body, headers=headers)
        except httpx.HTTPError as exc:
            event.deliveries.append(Delivery(attempt, None, type(exc).__name__, iso_now()))
            return False
        event.deliveries.append(Delivery(attempt, response.status_code, None, iso_now()))
        return 200 <= response.status_code < 300


@dataclass(frozen=True)
class Checkout:
    """What the approval page shows and where it sends the payer."""

    amount_cents: int
    currency: str
    description: str
    state: str  # open | approved | declined
    return_url: str | None


def _amount_de(cents: int, currency: str) -> str:
    whole, _, part = cents_to_decimal(cents).partition(".")
    grouped = f"{int(whole):,}".replace(",", ".")
    return f"{grouped},{part} {'€' if currency.upper() == 'EUR' else currency.upper()}"


def checkout_page(provider: str, ref: str, checkout: Checkout) -> str:
    title = {"stripe": "Stripe (Testumgebung)", "paypal": "PayPal (Testumgebung)"}[provider]
    state = {
        "open": "",
        "approved": "<p class='done'>Diese Zahlung wurde bereits bestätigt.</p>",
        "declined": "<p class='done'>Diese Zahlung wurde abgelehnt.</p>",
    }[checkout.state]
    buttons = (
        f"""<form method="post" action="/checkout/{html.escape(ref)}/approve">
  <button type="submit" name="action" value="approve">Bezahlen</button></form>
<form method="post" action="/checkout/{html.escape(ref)}/decline">
  <button type="submit" name="action" value="decline">Ablehnen</button></form>"""
        if checkout.state == "open"
        else ""
    )
    amount = _amount_de(checkout.amount_cents, checkout.currency)
    return f"""<!doctype html>
<html lang="de"><head><meta charset="utf-8"><title>Zahlung bestätigen - {title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body>
<h1>Zahlung bestätigen</h1>
<p class="provider">{title} - lokale Testumgebung, es fließt kein echtes Geld.</p>
<p class="description">{html.escape(checkout.description)}</p>
<p class="amount">Betrag: <strong>{amount}</strong></p>
<p class="ref">Referenz: {html.escape(ref)}</p>
{state}
{buttons}
<hr><p lang="en">Confirm payment (local test environment, no real money is moved).</p>
</body></html>"""


class FakeProvider:
    """The parts of a fake both providers share; subclasses add the provider's API."""

    provider = ""

    def __init__(self, config: FakeConfig) -> None:
        self.config = config
        self.faults = Faults()
        self.outbox = Outbox(config, self.sign)
        self.base_url = config.public_url
        self._locks: dict[str, asyncio.Lock] = {}
        # A slow provider (`POST /_fake/latency`): every API call waits ms +- jitter_ms.
        self.latency_ms = 0.0
        self.jitter_ms = 0.0

    # --- hooks ---------------------------------------------------------------------------
    def sign(self, body: bytes) -> dict[str, str]:
        raise NotImplementedError

    def checkout(self, ref: str) -> Checkout | None:
        raise NotImplementedError

    def approve(self, ref: str) -> dict[str, Any] | None:
        """The payer approves: the provider's object after it, or None if unknown."""
        raise NotImplementedError

    def decline(self, ref: str) -> dict[str, Any] | None:
        raise NotImplementedError

    def return_url_for(self, ref: str, approved: bool) -> str | None:
        raise NotImplementedError

    def fault_response(self, op: Op, fault: Fault) -> Response:
        raise NotImplementedError

    # --- helpers -------------------------------------------------------------------------
    def lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    def public(self, request: Request) -> str:
        if self.base_url is None:
            self.base_url = str(request.base_url).rstrip("/")
        return self.base_url.rstrip("/")

    async def with_faults(
        self,
        op: Op,
        handler: Callable[[bool], Awaitable[Response]],
        *,
        decides_decline: bool = False,
    ) -> Response:
        """Run `handler(declined)` under the next scripted fault of `op`: a 500/429 answers
        before anything happens; a timeout does the work and then holds the answer (the
        client cannot know whether it happened: the idempotency key must tell); a decline is
        the provider's refusal (made by the handler itself when it records one)."""
        if self.latency_ms > 0:
            jitter = random.uniform(-self.jitter_ms, self.jitter_ms)
            await asyncio.sleep(max(0.0, self.latency_ms + jitter) / 1000)
        scripted = self.faults.take(op)
        if scripted is None:
            return await handler(False)
        fault, seconds = scripted
        if fault == "timeout":
            response = await handler(False)
            await asyncio.sleep(seconds or self.config.timeout_hold_seconds)
            return response
        if fault == "decline" and decides_decline:
            return await handler(True)
        return self.fault_response(op, fault)

    # --- routes --------------------------------------------------------------------------
    def common_routes(self) -> list[Route]:
        return [
            Route("/healthz", self._healthz, methods=["GET"]),
            Route("/checkout/{ref}", self._page, methods=["GET"]),
            Route("/checkout/{ref}/approve", self._page_approve, methods=["POST"]),
            Route("/checkout/{ref}/decline", self._page_decline, methods=["POST"]),
            Route("/_fake/approve/{ref}", self._approve, methods=["POST"]),
            Route("/_fake/decline/{ref}", self._decline, methods=["POST"]),
            Route("/_fake/faults", self._faults, methods=["POST", "GET"]),
            Route("/_fake/clear-faults", self._clear_faults, methods=["POST"]),
            Route("/_fake/latency", self._latency, methods=["POST", "GET"]),
            Route("/_fake/redeliver", self._redeliver, methods=["POST"]),
            Route("/_fake/hold-webhooks", self._hold, methods=["POST"]),
            Route("/_fake/release-webhooks", self._release, methods=["POST"]),
            Route("/_fake/events", self._events, methods=["GET"]),
            Route("/_fake/reset", self._reset, methods=["POST"]),
        ]

    async def _healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "provider": self.provider})

    async def _page(self, request: Request) -> Response:
        ref = request.path_params["ref"]
        checkout = self.checkout(ref)
        if checkout is None:
            return HTMLResponse(
                "<!doctype html><html lang='de'><body><h1>Zahlung nicht gefunden</h1>"
                "<p lang='en'>Payment not found.</p></body></html>",
                status_code=404,
            )
        return HTMLResponse(checkout_page(self.provider, ref, checkout))

    async def _page_action(self, request: Request, approved: bool) -> Response:
        ref = request.path_params["ref"]
        self.public(request)
        result = self.approve(ref) if approved else self.decline(ref)
        if result is None:
            return HTMLResponse("<h1>Zahlung nicht gefunden</h1>", status_code=404)
        target = self.return_url_for(ref, approved)
        if target is None:
            return HTMLResponse("<h1>Fertig</h1><p>Sie können dieses Fenster schließen.</p>")
        return RedirectResponse(target, status_code=303)

    async def _page_approve(self, request: Request) -> Response:
        return await self._page_action(request, True)

    async def _page_decline(self, request: Request) -> Response:
        return await self._page_action(request, False)

    async def _approve(self, request: Request) -> Response:
        self.public(request)
        result = self.approve(request.path_params["ref"])
        return JSONResponse(result) if result is not None else _not_found()

    async def _decline(self, request: Request) -> Response:
        self.public(request)
        result = self.decline(request.path_params["ref"])
        return JSONResponse(result) if result is not None else _not_found()

    async def _faults(self, request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse(self.faults.pending())
        data = await request.json()
        op, fault, times = data.get("op"), data.get("fault"), int(data.get("times", 1))
        if op not in OPS or fault not in FAULTS or times < 1:
            return JSONResponse({"error": f"op in {OPS}, fault in {FAULTS}"}, status_code=400)
        seconds = data.get("seconds")
        self.faults.add(op, fault, times, float(seconds) if seconds is not None else None)
        return JSONResponse(self.faults.pending())

    async def _clear_faults(self, request: Request) -> Response:
        """Forget scripted faults and the latency; held deliveries stay held."""
        self.faults.clear()
        self.latency_ms = self.jitter_ms = 0.0
        return JSONResponse(self.faults.pending())

    async def _latency(self, request: Request) -> Response:
        """`{"ms": 800, "jitter_ms": 100}`: every API call answers that much later (0: off)."""
        if request.method == "POST":
            data = await request.json()
            ms, jitter = float(data.get("ms", 0)), float(data.get("jitter_ms", 0))
            if not (0 <= ms <= 60_000 and 0 <= jitter <= ms):
                return JSONResponse({"error": "0 <= jitter_ms <= ms <= 60000"}, status_code=400)
            self.latency_ms, self.jitter_ms = ms, jitter
        return JSONResponse({"ms": self.latency_ms, "jitter_ms": self.jitter_ms})

    async def _redeliver(self, request: Request) -> Response:
        data = await request.json()
        if not self.outbox.redeliver(str(data.get("event_id")), int(data.get("times", 1))):
            return _not_found()
        return JSONResponse({"redelivering": data.get("event_id")})

    async def _hold(self, request: Request) -> Response:
        self.outbox.hold()
        return JSONResponse({"held": True})

    async def _release(self, request: Request) -> Response:
        return JSONResponse({"released": self.outbox.release()})

    async def _events(self, request: Request) -> Response:
        return json_response([e.as_json() for e in self.outbox.events.values()])

    async def _reset(self, request: Request) -> Response:
        """Forget scripted faults and held deliveries (objects and events stay)."""
        self.faults.clear()
        self.latency_ms = self.jitter_ms = 0.0
        self.outbox.reset()
        return JSONResponse({"reset": True})


def _not_found() -> Response:
    return JSONResponse({"error": "unknown reference"}, status_code=404)
