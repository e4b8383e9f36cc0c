"""The fault's cost from a timeline: requests and bad ones in the window, the budget share and
minutes, and the recovery time."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from sichrplace.chaos import budget


@dataclass(frozen=True)
class S:
    t: float
    requests: int
    failures: int = 0
    status_5xx: int = 0


@dataclass(frozen=True)
class WithNoAnswer(S):
    no_answer: int = 0


def _steady(start: int, seconds: int, rate: int = 100) -> list[S]:
    return [S(start + i, rate) for i in range(seconds)]


def test_period_seconds() -> None:
    assert budget.period_seconds("30d") == 30 * 86_400
    assert budget.period_seconds("4w") == 4 * 604_800
    with pytest.raises(ValueError, match="one unit"):
        budget.period_seconds("30d12h")


def test_bad_requests_are_failures_unless_the_timeline_says_which_got_no_answer() -> None:
    assert budget.bad_requests(S(0, 10, failures=3, status_5xx=2)) == 3
    # A 4xx the load counted as a failure is no server error when no_answer is known.
    assert budget.bad_requests(WithNoAnswer(0, 10, failures=3, status_5xx=1, no_answer=1)) == 2


def test_spent_counts_the_window_and_states_the_budget_share_and_minutes() -> None:
    timeline = _steady(1000, 100)
    timeline[50] = S(1050, 100, failures=30, status_5xx=30)
    timeline[51] = S(1051, 100, failures=30, status_5xx=10)  # 20 without an answer
    timeline[90] = S(1090, 100, failures=5, status_5xx=5)  # after the window
    got = budget.spent(timeline, 1049.5, 1060, objective_percent=99.5, period_s=30 * 86_400)
    assert (got.requests, got.bad, got.status_5xx) == (1200, 60, 40)
    assert got.rate == pytest.approx(100.0)
    # 0.5% of 100 req/s for 30 days: 1,296,000 requests may fail.
    assert got.budget_requests == pytest.approx(1_296_000)
    assert got.share == pytest.approx(60 / 1_296_000)
    # 60 bad requests at 100 req/s are 0.6 s of a total outage.
    assert got.minutes == pytest.approx(0.01)
    # The same share of the 216-minute budget.
    assert got.share * 0.005 * 30 * 86_400 / 60 == pytest.approx(got.minutes)


def test_recovery_from_injection_to_the_first_clean_streak() -> None:
    timeline = _steady(0, 60)
    for t in range(20, 27):
        timeline[t] = S(t, 50, failures=10, status_5xx=10)
    timeline[28] = S(28, 80, failures=1)  # one more error breaks the first streak
    got = budget.recovery(timeline, injected_at=20.2, cleared_at=35, settled_at=41.5)
    assert got.errors_seen
    assert got.recovered_s == pytest.approx(29 - 20.2)
    assert got.last_bad_s == pytest.approx(29 - 20.2)
    assert got.settle_s == pytest.approx(6.5)


def test_errors_that_begin_late_are_recovered_from_after_they_began() -> None:
    """Clean at first (the part's clients notice later), errors after the clear; a later
    stray error after the clean streak shows in `last_bad_s` only."""
    timeline = _steady(0, 40)
    for t in (12, 14, 22):
        timeline[t] = S(t, 30, failures=1, status_5xx=1)
    got = budget.recovery(timeline, injected_at=3, cleared_at=10, settled_at=20)
    assert got.recovered_s == pytest.approx(15 - 3)
    assert got.last_bad_s == pytest.approx(23 - 3)


def test_a_second_without_answers_is_not_clean() -> None:
    timeline = [*_steady(0, 10), *[S(t, 0) for t in range(10, 20)], *_steady(20, 10)]
    timeline[10] = S(10, 5, failures=5)
    got = budget.recovery(timeline, injected_at=10, cleared_at=15, settled_at=18)
    assert got.recovered_s == pytest.approx(10)


def test_a_gap_in_the_timeline_breaks_the_streak() -> None:
    timeline = [S(0, 10, failures=1), *[S(t, 10) for t in (1, 2, 4, 5, 6, 7, 8)]]
    got = budget.recovery(timeline, injected_at=0, cleared_at=0, settled_at=0)
    assert got.recovered_s == pytest.approx(4)


def test_no_errors_recovers_at_once_and_never_recovering_is_none() -> None:
    clean = budget.recovery(_steady(0, 10), 0, 0, 0)
    assert (clean.recovered_s, clean.last_bad_s, clean.errors_seen) == (0.0, None, False)
    broken = [S(t, 10, failures=1) for t in range(10)]
    assert budget.recovery(broken, 0, 5, 5).recovered_s is None
