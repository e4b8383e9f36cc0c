"""Circuit breaker per dependency name: closed -> open -> half-open -> closed.

State lives in the process (each API instance and worker learns on its own). That is
deliberate: a breaker exists to stop waiting on a sick dependency, and sharing its state
through Redis would add a network round trip to every call and make the protection itself
depend on Redis. With N processes a dead dependency costs at most N x threshold failed
calls per reset period, which is cheap.

Closed counts consecutive failures; at `failure_threshold` the breaker opens and refuses
calls for `reset_timeout` seconds; then it is half-open and lets `half_open_max_calls`
probes through at once: a success closes it, a failure opens it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum

import structlog

from sichrplace.platform.resilience.errors import CircuitOpen
from sichrplace.platform.resilience.metrics import BREAKER_STATE

log = structlog.get_logger(__name__)


class BreakerState(StrEnum):
    CLOSED = "closed"
    HALF_OPEN = "half_open"
    OPEN = "open"


_GAUGE_VALUE = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        reset_timeout: float = 30.0,
        half_open_max_calls: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.failure_threshold = max(1, failure_threshold)
        self.reset_timeout = reset_timeout
        self.half_open_max_calls = max(1, half_open_max_calls)
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probes = 0
        BREAKER_STATE.labels(name).set(0)

    @property
    def state(self) -> BreakerState:
        if (
            self._state is BreakerState.OPEN
            and self._clock() >= self._opened_at + self.reset_timeout
        ):
            self._transition(BreakerState.HALF_OPEN)
        return self._state

    def retry_after(self) -> float:
        """Seconds until an open breaker lets a probe through (0 when not open)."""
        if self.state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.reset_timeout - self._clock())

    def acquire(self) -> None:
        """Ask to make one call; raises CircuitOpen if the breaker refuses it."""
        state = self.state
        if state is BreakerState.CLOSED:
            return
        if state is BreakerState.HALF_OPEN and self._probes < self.half_open_max_calls:
            self._probes += 1
            return
        raise CircuitOpen(self.name, retry_after=self.retry_after() or None)

    def record_success(self) -> None:
        if self._state is BreakerState.HALF_OPEN:
            self._probes = max(0, self._probes - 1)
            self._transition(BreakerState.CLOSED)
        self._failures = 0

    def record_failure(self) -> None:
        if self._state is BreakerState.HALF_OPEN:
            self._probes = max(0, self._probes - 1)
            self._open()
            return
        self._failures += 1
        if self._state is BreakerState.CLOSED and self._failures >= self.failure_threshold:
            self._open()

    def release(self) -> None:
        """A call ended without a verdict (cancelled): free its half-open probe slot."""
        if self._state is BreakerState.HALF_OPEN:
            self._probes = max(0, self._probes - 1)

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._transition(BreakerState.OPEN)

    def _transition(self, new: BreakerState) -> None:
        if new is self._state:
            return
        log.warning("circuit_breaker_transition", dependency=self.name, old=self._state, new=new)
        self._state = new
        if new is not BreakerState.HALF_OPEN:
            self._probes = 0
        if new is BreakerState.CLOSED:
            self._failures = 0
        BREAKER_STATE.labels(self.name).set(_GAUGE_VALUE[new])


_registry: dict[str, CircuitBreaker] = {}


def get_breaker(
    name: str,
    *,
    failure_threshold: int = 5,
    reset_timeout: float = 30.0,
    half_open_max_calls: int = 1,
) -> CircuitBreaker:
    """The process-wide breaker of a dependency (created with these settings on first use)."""
    breaker = _registry.get(name)
    if breaker is None:
        breaker = CircuitBreaker(
            name,
            failure_threshold=failure_threshold,
            reset_timeout=reset_timeout,
            half_open_max_calls=half_open_max_calls,
        )
        _registry[name] = breaker
    return breaker
