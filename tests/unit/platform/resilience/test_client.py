"""ResilientClient: retries only when safe, timeouts, breaker, metrics (HTTP via MockTransport)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest
from prometheus_client import REGISTRY

from sichrplace.platform.resilience import (
    BreakerState,
    CircuitOpen,
    DependencyFailed,
    DependencyTimeout,
    DependencyTransportError,
    Policy,
    ResilientClient,
)

FAST = Policy(
    timeout=1.0,
    max_attempts=3,
    backoff_initial=0.01,
    backoff_max=0.02,
    backoff_jitter=0.01,
    failure_threshold=50,
)

Step = Callable[[httpx.Request], httpx.Response]


class Script:
    """A transport that answers with the next scripted step and counts requests."""

    def __init__(self, *steps: Step | int) -> None:
        self.steps = list(steps)
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        step = self.steps[min(self.calls, len(self.steps) - 1)]
        self.calls += 1
        if isinstance(step, int):
            return httpx.Response(step, json={"n": self.calls})
        return step(request)


def _raise(exc_type: type[httpx.TransportError]) -> Step:
    def step(request: httpx.Request) -> httpx.Response:
        raise exc_type("scripted", request=request)

    return step


def _client(name: str, script: Script, policy: Policy = FAST) -> ResilientClient:
    return ResilientClient(
        name, policy=policy, base_url="http://dep.test", transport=httpx.MockTransport(script)
    )


def _count(name: str, outcome: str) -> float:
    labels = {"dependency": name, "outcome": outcome}
    return REGISTRY.get_sample_value("sichrplace_outbound_requests_total", labels) or 0.0


async def test_get_is_retried_on_5xx_until_success(unique: str) -> None:
    script = Script(503, 502, 200)
    client = _client(f"d{unique}", script)
    response = await client.get("/x")
    assert response.status_code == 200
    assert response.json() == {"n": 3}
    assert script.calls == 3
    assert _count(f"d{unique}", "server_error") == 2
    assert _count(f"d{unique}", "success") == 1
    retries = REGISTRY.get_sample_value(
        "sichrplace_outbound_retries_total", {"dependency": f"d{unique}"}
    )
    assert retries == 2
    latency_count = REGISTRY.get_sample_value(
        "sichrplace_outbound_request_duration_seconds_count", {"dependency": f"d{unique}"}
    )
    assert latency_count == 3


async def test_gives_up_after_max_attempts(unique: str) -> None:
    script = Script(500)
    client = _client(f"d{unique}", script)
    with pytest.raises(DependencyFailed) as info:
        await client.get("/x")
    assert script.calls == 3
    assert info.value.response is not None
    assert info.value.response.status_code == 500


async def test_post_is_not_retried_after_it_was_sent(unique: str) -> None:
    script = Script(503, 200)
    client = _client(f"d{unique}", script)
    with pytest.raises(DependencyFailed):
        await client.post("/charge", json={"amount": 1})
    assert script.calls == 1


async def test_post_marked_idempotent_is_retried(unique: str) -> None:
    script = Script(503, 201)
    client = _client(f"d{unique}", script)
    response = await client.post("/charge", json={}, idempotent=True)
    assert response.status_code == 201
    assert script.calls == 2


async def test_post_is_retried_when_the_connection_never_opened(unique: str) -> None:
    script = Script(_raise(httpx.ConnectError), 201)
    client = _client(f"d{unique}", script)
    response = await client.post("/charge", json={})
    assert response.status_code == 201
    assert script.calls == 2


async def test_post_read_error_is_not_retried(unique: str) -> None:
    script = Script(_raise(httpx.ReadError), 201)
    client = _client(f"d{unique}", script)
    with pytest.raises(DependencyTransportError):
        await client.post("/charge", json={})
    assert script.calls == 1


async def test_timeout_becomes_dependency_timeout(unique: str) -> None:
    script = Script(_raise(httpx.ReadTimeout))
    client = _client(f"d{unique}", script)
    with pytest.raises(DependencyTimeout):
        await client.get("/slow")
    assert script.calls == 3
    assert _count(f"d{unique}", "timeout") == 3


async def test_4xx_is_returned_and_not_a_breaker_failure(unique: str) -> None:
    policy = Policy(max_attempts=1, failure_threshold=1)
    script = Script(404)
    client = _client(f"d{unique}", script, policy)
    for _ in range(3):
        response = await client.get("/missing")
        assert response.status_code == 404
    assert client.breaker.state is BreakerState.CLOSED
    assert script.calls == 3
    assert _count(f"d{unique}", "client_error") == 3


async def test_breaker_opens_and_then_refuses_without_calling(unique: str) -> None:
    policy = Policy(max_attempts=1, failure_threshold=2, reset_timeout=60)
    script = Script(500)
    client = _client(f"d{unique}", script, policy)
    for _ in range(2):
        with pytest.raises(DependencyFailed):
            await client.get("/x")
    with pytest.raises(CircuitOpen):
        await client.get("/x")
    assert script.calls == 2
    assert _count(f"d{unique}", "circuit_open") == 1


async def test_breaker_half_opens_after_reset_and_closes_on_success(unique: str) -> None:
    policy = Policy(max_attempts=1, failure_threshold=1, reset_timeout=0.2)
    script = Script(500, 200)
    client = _client(f"d{unique}", script, policy)
    with pytest.raises(DependencyFailed):
        await client.get("/x")
    with pytest.raises(CircuitOpen):
        await client.get("/x")
    await asyncio.sleep(0.25)
    assert client.breaker.state is BreakerState.HALF_OPEN
    assert (await client.get("/x")).status_code == 200
    assert client.breaker.state is BreakerState.CLOSED


async def test_custom_classifier_can_fail_a_200(unique: str) -> None:
    script = Script(200)
    client = _client(f"d{unique}", script)
    with pytest.raises(DependencyFailed) as info:
        await client.get("/x", classify=lambda r: "failure")
    assert not info.value.retryable
    assert script.calls == 1  # "failure" is not retried
    assert _count(f"d{unique}", "failure") == 1


async def test_deadline_stops_new_attempts(unique: str) -> None:
    policy = Policy(max_attempts=10, backoff_initial=0.2, backoff_max=0.2, deadline=0.3)
    script = Script(500)
    client = _client(f"d{unique}", script, policy)
    started = time.monotonic()
    with pytest.raises(DependencyFailed):
        await client.get("/x")
    assert script.calls < 10
    assert time.monotonic() - started < 1.0
