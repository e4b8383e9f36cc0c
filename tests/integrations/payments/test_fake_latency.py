"""The fakes' latency option (`POST /_fake/latency`): a slow provider for the chaos matrix's
`payments-slow`, set and cleared at run time."""

from __future__ import annotations

import time

import httpx
import pytest

from sichrplace.integrations.payments import DEV_STRIPE_SECRET_KEY
from tests.integrations.payments.conftest import Fake


def _timed_list(fake: Fake) -> float:
    started = time.monotonic()
    response = httpx.get(
        f"{fake.url}/v1/payment_intents",
        headers={"Authorization": f"Bearer {DEV_STRIPE_SECRET_KEY}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return time.monotonic() - started


def test_latency_slows_every_call_until_cleared(stripe_fake: Fake) -> None:
    assert _timed_list(stripe_fake) < 0.5
    assert stripe_fake.control("latency", {"ms": 800, "jitter_ms": 50}) == {
        "ms": 800.0,
        "jitter_ms": 50.0,
    }
    assert 0.75 <= _timed_list(stripe_fake) < 3.0
    stripe_fake.control("clear-faults")
    assert _timed_list(stripe_fake) < 0.5


def test_reset_clears_the_latency(paypal_fake: Fake) -> None:
    paypal_fake.control("latency", {"ms": 500})
    paypal_fake.control("reset")
    assert paypal_fake.http.get("/_fake/latency").json() == {"ms": 0.0, "jitter_ms": 0.0}


@pytest.mark.parametrize("body", [{"ms": -1}, {"ms": 10, "jitter_ms": 20}, {"ms": 90_000}])
def test_impossible_latencies_are_refused(stripe_fake: Fake, body: dict[str, float]) -> None:
    response = stripe_fake.http.post("/_fake/latency", json=body)
    assert response.status_code == 400
