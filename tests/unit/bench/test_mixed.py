"""The mixed load's pure parts: the users a rate needs, the figures of a request log, the
gate's thresholds from the SLO file and its judgement."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sichrplace.bench.mixed import gate
from sichrplace.bench.mixed.ops import MIX, users_for, with_floor
from sichrplace.bench.mixed.run import read_result


def test_users_for_a_rate_make_about_that_rate() -> None:
    users, pace = users_for(200.0, listeners=10)
    made = sum(users[n] * MIX[n].per_task * pace[n] for n in MIX)
    assert made == pytest.approx(200.0, rel=0.05)
    assert users["Listener"] == 10
    assert users["Visitor"] > users["Booker"]


def test_the_gate_paces_every_kind_of_user_to_enough_tasks_to_be_judged() -> None:
    config = gate.load_config()
    users, pace = users_for(config.rate, listeners=config.listeners)
    floored = with_floor(users, pace, config.min_tasks, config.duration_s)
    for name in MIX:
        expected = users[name] * floored[name] * config.duration_s
        assert expected >= config.min_tasks >= 8, name
    # the mix's own pace where it already gives enough; the event streams untouched
    assert floored["Visitor"] == pace["Visitor"]
    assert floored["Listener"] == pace["Listener"]
    # at the mix's own pace the signer would start about 2 in the window: none in 1 of 10 runs
    assert users["Signer"] * pace["Signer"] * config.duration_s < 3


def _log(path: Path, rows: list[tuple[str, int, float, int]]) -> None:
    path.write_text("".join(f"{n},{s},{ms},{st}\n" for n, s, ms, st in rows) + "search,17")


def test_read_result_leaves_out_the_warmup_and_counts_errors_by_each_operations_answers(
    tmp_path: Path,
) -> None:
    t0 = 1_800_000_000_000
    rows = [("search", t0 + 100, 500.0, 200)]  # in the warm-up: left out
    rows += [("search", t0 + 2000 + i * 10, 10.0 + i, 200) for i in range(100)]
    rows += [("booking", t0 + 2500, 30.0, 409), ("booking", t0 + 2600, 40.0, 503)]
    rows += [("intent", t0 + 2700, 20.0, 0), ("provider_approve", t0 + 2800, 2.0, 500)]
    _log(tmp_path / "requests-1.csv", rows)

    result = read_result(tmp_path, t0 / 1000, 1.0, {})

    search = result.endpoints["search"]
    assert search.requests == 100
    assert search.p50_ms == pytest.approx(59.5)
    assert search.errors == 0
    assert result.endpoints["booking"].errors == 1  # 409 is a lost race, 503 is an error
    assert result.status_5xx["booking"] == 1
    assert result.total_5xx() == 1  # the fake provider's 500 is not ours
    assert result.total_no_answer() == 1
    assert result.groups["bookings"].requests == 3
    assert result.groups["bookings"].errors == 2
    assert sum(s.requests for s in result.timeline) == 104  # the whole log, ours only
    assert sum(s.status_5xx for s in result.timeline) == 1


def test_thresholds_come_from_the_slo_file_unless_overridden(tmp_path: Path) -> None:
    config = gate.load_config()
    assert config.thresholds["browse"].p95_ms == 400.0  # search-latency: 0.4 s
    assert config.thresholds["bookings"].p95_ms == 1000.0  # api-latency: 1 s
    assert config.thresholds["browse"].error_rate == pytest.approx(0.005)  # 99.5 %
    assert config.thresholds["bookings"].error_rate == pytest.approx(0.01)  # 99 %

    raw = yaml.safe_load(gate.GATE_FILE.read_text())
    raw["scenarios"]["browse"]["p95_ms"] = 12.5
    raw["scenarios"]["nonsense"] = raw["scenarios"]["browse"]
    bad = tmp_path / "gate.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match="nonsense"):
        gate.load_config(bad)
    del raw["scenarios"]["nonsense"]
    bad.write_text(yaml.safe_dump(raw))
    lowered = gate.load_config(bad).thresholds["browse"]
    assert lowered.p95_ms == 12.5
    assert "overridden" in lowered.source


def test_judge_names_every_broken_threshold() -> None:
    limits = {
        "browse": gate.Threshold("browse", 100.0, 0.01, "x"),
        "booking": gate.Threshold("booking", 100.0, 0.01, "x"),
        "contracts": gate.Threshold("contracts", 100.0, 0.01, "x"),
    }
    summary = {
        "browse": {"requests": 10, "rps": 1.0, "p95_ms": 99.0, "error_rate": 0.0},
        "booking": {"requests": 10, "rps": 1.0, "p95_ms": 120.0, "error_rate": 0.1},
        "contracts": {"requests": 0, "rps": 0.0, "p95_ms": 0.0, "error_rate": 0.0},
    }
    found = {(b.scenario, b.what) for b in gate.judge(summary, limits)}
    assert found == {("booking", "p95_ms"), ("booking", "error_rate"), ("contracts", "requests")}
    lines = gate.compare(summary, {"scenarios": {"browse": {"p95_ms": 90.0, "error_rate": 0.0}}})
    assert "+10%" in lines[0]
    assert "no baseline" in lines[1]
