"""What a fault cost, from the mixed load's per-second timeline: the requests and bad requests
during the fault, the share of the api-availability SLO's error budget they spent, and how
long the service took to recover. Pure functions (no I/O): the runner hands in the timeline
and the moments it injected, cleared and saw the stack settled.

The budget in requests is (1 - objective) x the run's request rate x the SLO period: what
the service may fail over 30 days at the rate this run drove. Its share spent is the fault's
bad requests over that; "minutes of budget" states the same share in time (the 30-day budget
of 99.5% is 216 minutes of total outage): bad requests / rate / 60, i.e. the minutes of a
total outage that would fail as many requests.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

# How many error-free seconds in a row count as recovered.
RECOVERED_AFTER_CLEAN_SECONDS = 5

_DURATION = re.compile(r"^(\d+)([smhdwy])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800, "y": 31_536_000}


class Second(Protocol):
    """One second of the load's timeline (the lead's `bench.mixed` `Second` has these)."""

    @property
    def t(self) -> float: ...  # unix time of the second's start

    @property
    def requests(self) -> int: ...

    @property
    def failures(self) -> int: ...

    @property
    def status_5xx(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Budget:
    """The fault window's requests, the bad ones (5xx or no answer), and the error budget
    they spent: `share` of the period's budget (1.0 = all of it) and `minutes`."""

    requests: int
    bad: int
    status_5xx: int
    rate: float  # the run's mean requests per second
    budget_requests: float  # the period's budget in requests at `rate`
    share: float
    minutes: float


@dataclass(frozen=True, slots=True)
class Recovery:
    """Seconds from the injection until the service recovered: the first `clean_seconds`
    error-free seconds in a row after its errors began (0.0: no error at all; None: not
    within the timeline); the last second with an error (None: none), and from the clear
    until the stack settled."""

    recovered_s: float | None
    last_bad_s: float | None
    settle_s: float
    errors_seen: bool  # any bad request from the injection on


def period_seconds(period: str) -> int:
    """A Prometheus duration of one unit ("30d") in seconds."""
    match = _DURATION.match(period)
    if match is None:
        raise ValueError(f"not a duration of one unit: {period!r}")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def bad_requests(second: Second) -> int:
    """The second's requests answered 5xx or not at all. Locust counts both as failures; a
    timeline that also says which failures got no answer (`no_answer`) is read exactly, so
    a 4xx the load marked as failure is not taken for a server error."""
    no_answer = getattr(second, "no_answer", None)
    if isinstance(no_answer, int):
        return second.status_5xx + no_answer
    return max(second.failures, second.status_5xx)


def _within(timeline: Sequence[Second], start: float, end: float) -> list[Second]:
    """The seconds that overlap [start, end]."""
    return [s for s in timeline if s.t + 1 > start and s.t <= end]


def mean_rate(timeline: Sequence[Second]) -> float:
    """Requests per second over the whole timeline (first to last second)."""
    if not timeline:
        return 0.0
    span = max(s.t for s in timeline) - min(s.t for s in timeline) + 1
    return sum(s.requests for s in timeline) / span


def spent(
    timeline: Sequence[Second],
    start: float,
    end: float,
    *,
    objective_percent: float,
    period_s: int,
    rate: float | None = None,
) -> Budget:
    """The budget the seconds of [start, end] spent, at `rate` (default: the timeline's)."""
    window = _within(timeline, start, end)
    requests = sum(s.requests for s in window)
    bad = sum(bad_requests(s) for s in window)
    run_rate = mean_rate(timeline) if rate is None else rate
    budget_requests = (1 - objective_percent / 100) * run_rate * period_s
    share = bad / budget_requests if budget_requests > 0 else 0.0
    minutes = bad / run_rate / 60 if run_rate > 0 else 0.0
    return Budget(
        requests=requests,
        bad=bad,
        status_5xx=sum(s.status_5xx for s in window),
        rate=run_rate,
        budget_requests=budget_requests,
        share=share,
        minutes=minutes,
    )


def recovery(
    timeline: Sequence[Second],
    injected_at: float,
    cleared_at: float,
    settled_at: float,
    *,
    clean_seconds: int = RECOVERED_AFTER_CLEAN_SECONDS,
) -> Recovery:
    """How long from the injection until the service answered without errors again.

    Errors may begin late (a part that fails only when it comes back, a pool that notices a
    dead connection later), so the clean streak that counts is the first one after the first
    error. A clean second had requests and no bad one: a second without any answer at all
    (the load waiting on a stalled part) is not clean, nor is a gap in the timeline."""
    after = sorted((s for s in timeline if s.t + 1 > injected_at), key=lambda s: s.t)
    bad_at = [s.t for s in after if bad_requests(s)]
    settle_s = max(0.0, settled_at - cleared_at)
    if not bad_at:
        return Recovery(0.0, None, settle_s, errors_seen=False)
    recovered: float | None = None
    streak_start: float | None = None
    streak = 0
    previous: float | None = None
    for second in (s for s in after if s.t > bad_at[0]):
        contiguous = previous is not None and second.t - previous <= 1
        clean = second.requests > 0 and bad_requests(second) == 0
        if clean and (streak == 0 or not contiguous):
            streak_start, streak = second.t, 1
        elif clean:
            streak += 1
        else:
            streak = 0
        previous = second.t
        if streak >= clean_seconds and streak_start is not None:
            recovered = max(0.0, streak_start - injected_at)
            break
    return Recovery(
        recovered_s=recovered,
        last_bad_s=max(0.0, bad_at[-1] + 1 - injected_at),
        settle_s=settle_s,
        errors_seen=True,
    )
