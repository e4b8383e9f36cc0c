"""Circuit breaker state machine, driven by a fake clock."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from sichrplace.platform.resilience import BreakerState, CircuitBreaker, CircuitOpen


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _gauge(name: str) -> float | None:
    return REGISTRY.get_sample_value("sichrplace_circuit_breaker_state", {"dependency": name})


def test_opens_after_consecutive_failures_and_refuses_calls(unique: str) -> None:
    clock = Clock()
    breaker = CircuitBreaker(f"b{unique}", failure_threshold=3, reset_timeout=10, clock=clock)
    for _ in range(2):
        breaker.acquire()
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.acquire()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert _gauge(f"b{unique}") == 2
    with pytest.raises(CircuitOpen) as info:
        breaker.acquire()
    assert info.value.retry_after == pytest.approx(10)


def test_success_resets_the_consecutive_count(unique: str) -> None:
    breaker = CircuitBreaker(f"b{unique}", failure_threshold=2, clock=Clock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED


def test_half_open_lets_one_probe_through_and_closes_on_success(unique: str) -> None:
    clock = Clock()
    breaker = CircuitBreaker(f"b{unique}", failure_threshold=1, reset_timeout=5, clock=clock)
    breaker.record_failure()
    clock.now += 4.9
    with pytest.raises(CircuitOpen):
        breaker.acquire()
    clock.now += 0.2
    assert breaker.state is BreakerState.HALF_OPEN
    assert _gauge(f"b{unique}") == 1
    breaker.acquire()  # the probe
    with pytest.raises(CircuitOpen):
        breaker.acquire()  # a second caller while the probe is in flight
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert _gauge(f"b{unique}") == 0
    breaker.acquire()
    breaker.acquire()


def test_failed_probe_reopens_for_a_full_period(unique: str) -> None:
    clock = Clock()
    breaker = CircuitBreaker(f"b{unique}", failure_threshold=1, reset_timeout=5, clock=clock)
    breaker.record_failure()
    clock.now += 5
    breaker.acquire()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.now += 4
    with pytest.raises(CircuitOpen):
        breaker.acquire()


def test_released_probe_frees_the_slot(unique: str) -> None:
    clock = Clock()
    breaker = CircuitBreaker(f"b{unique}", failure_threshold=1, reset_timeout=1, clock=clock)
    breaker.record_failure()
    clock.now += 1
    breaker.acquire()
    breaker.release()  # e.g. the caller was cancelled
    breaker.acquire()
    assert breaker.state is BreakerState.HALF_OPEN
