"""The growing-delay formula (platform/ratelimit/backoff.py; its Lua script is tested against
Redis in tests/platform/test_growing_delay.py)."""

from __future__ import annotations

from sichrplace.platform.ratelimit.backoff import delay_seconds


def test_free_failures_cost_nothing_then_each_one_doubles_the_wait_up_to_the_cap() -> None:
    waits = [delay_seconds(n, free=3, base=1.0, max_delay=30) for n in range(1, 11)]
    assert waits == [0, 0, 0, 1, 2, 4, 8, 16, 30, 30]
    assert delay_seconds(10_000, free=0, base=1.0, max_delay=900) == 900  # no overflow
    assert delay_seconds(1, free=0, base=0.25, max_delay=900) == 1  # at least a second
