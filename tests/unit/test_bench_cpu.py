"""The benchmark's API CPU per request: from the processes' own CPU counters, and none when
an instance restarted during the scenario (its counters began again)."""

from __future__ import annotations

import os
import time
from unittest import mock

from sichrplace.bench import runner
from sichrplace.bench.load import Measurement


def _measured(requests: int) -> Measurement:
    return Measurement(rps=100.0, p50_ms=1, p95_ms=2, p99_ms=3, errors=0, requests=requests)


def test_cpu_per_request_sums_every_instance() -> None:
    out = runner.with_api_cpu(_measured(2000), {10: 1.0, 11: 2.0}, {10: 1.5, 11: 2.5})
    assert out.api_cpu_ms == 0.5  # 1.0 s over 2,000 requests


def test_no_figure_when_an_instance_restarted_or_nothing_was_served() -> None:
    assert runner.with_api_cpu(_measured(2000), {10: 1.0}, {12: 0.1}).api_cpu_ms is None
    assert runner.with_api_cpu(_measured(0), {10: 1.0}, {10: 1.0}).api_cpu_ms is None
    assert runner.with_api_cpu(_measured(2000), {}, {}).api_cpu_ms is None  # no stack found


def test_counters_are_read_from_proc_for_the_api_programs() -> None:
    pid = os.getpid()
    with mock.patch.object(runner, "_api_pids", return_value={"api-1": pid}):
        first = runner.api_cpu_seconds(mock.Mock())
        assert set(first) == {pid}
        # Burn CPU in this process until the counters move: the kernel charges CPU in clock
        # ticks (10 ms) to whichever process a tick finds running, so a short burn on a busy
        # machine may be charged nothing yet. Counters that never move fail at the deadline.
        deadline = time.monotonic() + 5
        second = first
        while second[pid] <= first[pid]:
            assert time.monotonic() < deadline, "the CPU counters did not move"
            sum(i * i for i in range(300_000))
            second = runner.api_cpu_seconds(mock.Mock())


def test_the_median_carries_the_cpu_figure() -> None:
    runs = [
        {"healthz": runner.with_api_cpu(_measured(1000), {1: 0.0}, {1: cpu})}
        for cpu in (0.3, 0.1, 0.2)
    ]
    assert runner.median_of(runs)["healthz"]["api_cpu_ms"] == 0.2
