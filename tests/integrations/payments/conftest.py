"""The payment providers against their fakes, each fake a real HTTP server in this process,
and a local receiver standing in for our webhook endpoint."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from sichrplace.config import PaymentsSettings
from sichrplace.integrations.payments.paypal import PaypalProvider
from sichrplace.integrations.payments.stripe import StripeProvider
from sichrplace.platform.secrets import SecretsProvider
from sichrplace.stack.fake_payments import paypal as fake_paypal
from sichrplace.stack.fake_payments import stripe as fake_stripe
from sichrplace.stack.fake_payments.common import FakeConfig, FakeProvider
from tests.fakes.server import ThreadedServer

# The client gives up on an attempt after this long; a "timeout" fault holds longer.
CLIENT_TIMEOUT = 0.4
HOLD = 1.2


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int


class Receiver:
    """Records every delivery; answers scripted statuses first, then 200."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.received: list[Received] = []
        self.statuses: deque[int] = deque()
        self.app = Starlette(routes=[Route("/{provider}", self._receive, methods=["POST"])])
        self.server: ThreadedServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    async def _receive(self, request: Request) -> Response:
        body = await request.body()
        with self._lock:
            status = self.statuses.popleft() if self.statuses else 200
            self.received.append(Received(request.url.path, dict(request.headers), body, status))
        return PlainTextResponse("ok" if status < 300 else "nope", status_code=status)

    def reset(self) -> None:
        with self._lock:
            self.received.clear()
            self.statuses.clear()

    def deliveries(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    async def wait_for(
        self, path: str, predicate: Callable[[list[Received]], bool], within: float = 10.0
    ) -> list[Received]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            found = self.deliveries(path)
            if predicate(found):
                return found
            await asyncio.sleep(0.02)
        raise AssertionError(f"deliveries to {path} never matched: {self.deliveries(path)}")


class Fake:
    """A running fake: its URL, its control API, and its in-memory state (read-only)."""

    def __init__(self, app: Starlette, server: ThreadedServer) -> None:
        self.app = app
        self.server = server
        self.url = server.url
        self.state: FakeProvider = app.state.fake
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.post(f"/_fake/{path}", json=body)
        response.raise_for_status()
        return response.json()

    def fault(self, op: str, fault: str, times: int = 1) -> None:
        self.control("faults", {"op": op, "fault": fault, "times": times})

    def events(self) -> list[dict[str, Any]]:
        response = self.http.get("/_fake/events")
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()
        return result


def _config(receiver: Receiver, provider: str) -> FakeConfig:
    return FakeConfig(
        webhook_url=f"{receiver.url}/{provider}",
        webhook_retry_delays=(0.05, 0.1, 0.2),
        timeout_hold_seconds=HOLD,
    )


@pytest.fixture(scope="module")
def receiver_server() -> Iterator[Receiver]:
    receiver = Receiver()
    with ThreadedServer(receiver.app) as server:
        receiver.server = server
        yield receiver


@pytest.fixture
def receiver(receiver_server: Receiver) -> Receiver:
    receiver_server.reset()
    return receiver_server


def _run_fake(build: Callable[[FakeConfig], Starlette], config: FakeConfig) -> Iterator[Fake]:
    app = build(config)
    with ThreadedServer(app) as server:
        fake = Fake(app, server)
        yield fake
        fake.http.close()


@pytest.fixture(scope="module")
def stripe_server(receiver_server: Receiver) -> Iterator[Fake]:
    yield from _run_fake(fake_stripe.build_app, _config(receiver_server, "stripe"))


@pytest.fixture(scope="module")
def paypal_server(receiver_server: Receiver) -> Iterator[Fake]:
    yield from _run_fake(fake_paypal.build_app, _config(receiver_server, "paypal"))


def _settled(fake: Fake, receiver: Receiver) -> Fake:
    """The fake and the receiver as a test starts: what an earlier test set off (say, the
    webhook of an approval it did not wait for) is delivered first, so it does not land in
    this test's deliveries (bounded: a delivery retrying for longer is left to run)."""
    deadline = time.monotonic() + 5
    while fake.state.outbox.busy() and time.monotonic() < deadline:
        time.sleep(0.01)
    fake.control("reset")
    receiver.reset()
    return fake


@pytest.fixture
def stripe_fake(stripe_server: Fake, receiver: Receiver) -> Fake:
    return _settled(stripe_server, receiver)


@pytest.fixture
def paypal_fake(paypal_server: Fake, receiver: Receiver) -> Fake:
    return _settled(paypal_server, receiver)


def payments_settings(**overrides: Any) -> PaymentsSettings:
    values: dict[str, Any] = {
        "timeout_seconds": CLIENT_TIMEOUT,
        "connect_timeout_seconds": CLIENT_TIMEOUT,
        "max_attempts": 3,
        "breaker_failure_threshold": 50,
    }
    values.update(overrides)
    return PaymentsSettings(**values)


DEV_SECRETS = SecretsProvider("development")
MakeStripe = Callable[..., Awaitable[StripeProvider]]
MakePaypal = Callable[..., Awaitable[PaypalProvider]]


@pytest.fixture
async def make_stripe(stripe_fake: Fake, unique: str) -> AsyncIterator[MakeStripe]:
    """A StripeProvider against the fake, with its own breaker (dependency name per test)."""
    made: list[StripeProvider] = []

    async def make(**overrides: Any) -> StripeProvider:
        settings = payments_settings(stripe_api_base=stripe_fake.url, **overrides)
        provider = StripeProvider(
            settings, redis=None, secrets=DEV_SECRETS, dependency=f"stripe_{unique}"
        )
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.aclose()


@pytest.fixture
async def make_paypal(paypal_fake: Fake, unique: str) -> AsyncIterator[MakePaypal]:
    made: list[PaypalProvider] = []

    async def make(**overrides: Any) -> PaypalProvider:
        settings = payments_settings(paypal_api_base=paypal_fake.url, **overrides)
        provider = PaypalProvider(
            settings, redis=None, secrets=DEV_SECRETS, dependency=f"paypal_{unique}"
        )
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.aclose()
