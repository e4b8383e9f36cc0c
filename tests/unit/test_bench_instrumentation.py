"""The benchmark's instrumentation comparison: the overhead figures, and the check that each
API instance really runs with the variant's settings after the switch."""

from __future__ import annotations

import os
import subprocess
import time
from unittest import mock

import pytest

from sichrplace.bench import runner
from sichrplace.config import Settings


@pytest.fixture(autouse=True)
def _no_index_wait(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if "index" not in request.node.name:
        monkeypatch.setattr(runner, "wait_until_indexed", lambda *_: None)


def _m(rps: float, p95: float, cpu: float | None = None) -> dict[str, float]:
    out = {"rps": rps, "p50_ms": 1.0, "p95_ms": p95, "p99_ms": p95, "errors": 0}
    if cpu is not None:
        out["api_cpu_ms"] = cpu
    return out


def test_overhead_is_relative_to_instrumentation_off() -> None:
    on = {
        "search_cached": _m(900, 11, 0.22),
        "search_uncached": _m(300, 52),
        "static_json": _m(1, 1),
    }
    off = {"search_cached": _m(1000, 10, 0.20), "search_uncached": _m(310, 50)}
    got = runner.instrumentation_overhead(on, off)
    assert got["search_cached"] == {
        "rps_loss": 0.1,
        "p95_increase": 0.1,
        "api_cpu_increase": 0.1,
    }
    assert got["search_uncached"]["p95_increase"] == 0.04
    assert "api_cpu_increase" not in got["search_uncached"]
    assert "static_json" not in got  # a ceiling, not a scenario of ours
    table = runner.overhead_table(got)
    assert "+10.0%" in table


def _ok() -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess([], 0, "", "")


def _instance(variant: str) -> subprocess.Popen[bytes]:
    """A child started with `variant`'s settings, standing in for an API instance; returned
    once its /proc/<pid>/environ shows them. Popen returns when the exec has begun, and for a
    moment after that the new program's environment reads as empty."""
    child = subprocess.Popen(["sleep", "30"], env={**os.environ, **runner.INSTRUMENTATION[variant]})
    wanted = runner.INSTRUMENTATION[variant].items()
    deadline = time.monotonic() + 5
    while not wanted <= runner._environ(child.pid).items():
        assert time.monotonic() < deadline, "the child's environment never showed"
        time.sleep(0.01)
    return child


def test_the_switch_checks_the_environment_each_instance_runs_with() -> None:
    # /proc/<pid>/environ is the environment an instance was started with.
    with _instance("off") as child:
        try:
            pids = {"api-1": child.pid}
            # Before `stack up` the old instance, after it the restarted one.
            seen = [{"api-1": 1}, pids, pids] * 2
            with (
                mock.patch.object(subprocess, "run", return_value=_ok()) as ran,
                mock.patch.object(runner, "_api_pids", side_effect=seen),
            ):
                runner.switch_instrumentation(mock.Mock(), "off", lambda _: None)
                assert ran.call_args.args[0][1:] == ["stack", "up"]
                assert ran.call_args.kwargs["env"]["SICHRPLACE_TRACING_ENABLED"] == "false"
                # An instance that kept its old settings (a program supervisor did not restart).
                with pytest.raises(RuntimeError, match="SICHRPLACE_TRACING_ENABLED='false'"):
                    runner.switch_instrumentation(mock.Mock(), "on", lambda _: None)
        finally:
            child.kill()


def test_instances_that_stack_up_left_running_are_restarted() -> None:
    # The same settings as before: supervisor restarts nothing, but the code may be new.
    with _instance("on") as child:
        try:
            settings = mock.Mock()
            settings.stack.workers = 1
            with (
                mock.patch.object(subprocess, "run", return_value=_ok()) as ran,
                mock.patch.object(runner, "_api_pids", return_value={"api-1": child.pid}),
            ):
                runner.switch_instrumentation(settings, "on", lambda _: None)
            commands = [call.args[0][1:] for call in ran.call_args_list]
            assert commands == [
                ["stack", "up"],
                ["stack", "restart", "api-1", "worker-1"],
                ["stack", "up"],
            ]
        finally:
            child.kill()


def test_a_failed_stack_up_stops_the_comparison() -> None:
    failed = subprocess.CompletedProcess([], 1, "", "nginx did not start")
    with (
        mock.patch.object(runner, "_api_pids", return_value={}),
        mock.patch.object(subprocess, "run", return_value=failed),
        pytest.raises(RuntimeError, match="nginx did not start"),
    ):
        runner.switch_instrumentation(mock.Mock(), "on", lambda _: None)


def test_the_switch_waits_until_every_instance_has_loaded_its_index() -> None:
    settings = Settings()
    settings.stack = settings.stack.model_copy(update={"api_base_port": 7001, "api_instances": 2})
    answers = {
        # api-1 still loading at the first look; api-2 loaded; the metric as Prometheus reads it.
        "http://127.0.0.1:7001/metrics": [
            b"",
            b'sichrplace_facet_index_loads_total{outcome="ok"} 1.0\n',
        ],
        "http://127.0.0.1:7002/metrics": [
            b'x 1\nsichrplace_facet_index_loads_total{outcome="ok"} 2.0\n'
        ],
    }
    looked: list[str] = []

    def get(url: str, timeout: float = 10.0) -> bytes:
        looked.append(url)
        return answers[url].pop(0)

    said: list[str] = []
    with (
        mock.patch.object(runner, "_get", side_effect=get),
        mock.patch("time.sleep"),
    ):
        runner.wait_until_indexed(settings, said.append, timeout_s=30)
    assert looked == [
        "http://127.0.0.1:7001/metrics",
        "http://127.0.0.1:7001/metrics",
        "http://127.0.0.1:7002/metrics",
    ]
    assert "index loaded" in said[0]


def test_the_wait_for_the_index_is_bounded() -> None:
    settings = Settings()
    with (
        mock.patch.object(runner, "_get", side_effect=ConnectionRefusedError),
        pytest.raises(RuntimeError, match="did not load its index"),
    ):
        runner.wait_until_indexed(settings, lambda _: None, timeout_s=0.3)
