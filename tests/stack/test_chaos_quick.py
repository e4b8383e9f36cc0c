"""The fault matrix's bounded subset in the test command: an API instance SIGKILLed and Redis
stopped, each under a short mixed load; every invariant holds and the results and table are
written (`sichrplace chaos run --quick` runs the same faults at full length)."""

from __future__ import annotations

import json
import time

import pytest

from sichrplace.chaos.faults import FAULTS
from sichrplace.chaos.runner import RunSpec, run_matrix
from sichrplace.config import PROJECT_ROOT, Settings
from sichrplace.stack.layout import Layout

pytestmark = pytest.mark.stack

QUICK = ("api-sigkill", "redis-stop")
SPEC = RunSpec(rate=40.0, baseline_s=5.0, tail_s=5.0, hold_s=5.0, small_cast=True)
OUT = PROJECT_ROOT / "build" / "test-artifacts" / "chaos-quick"


def test_quick_faults_keep_every_invariant(settings: Settings, layout: Layout) -> None:
    assert all(FAULTS[name].quick for name in QUICK)
    said: list[str] = []
    started = time.monotonic()

    def say(msg: str) -> None:
        said.append(f"{time.monotonic() - started:6.1f}s {msg}")
        (OUT / "progress.txt").write_text("\n".join(said) + "\n")

    OUT.mkdir(parents=True, exist_ok=True)
    results = run_matrix(FAULTS, QUICK, settings, layout, SPEC, OUT, say)
    for result in results:
        assert not result.error, (result.fault, result.error, said[-10:])
        failed = [c for c in result.invariants if not c["held"]]
        assert not failed, (result.fault, failed)
        assert result.invariants, result.fault
        assert result.load["requests"] > 0, result.load
        assert result.budget["requests"] > 0, result.budget
        assert "recovered_s" in result.recovery, result.recovery
        assert result.cleared_at - result.injected_at >= SPEC.hold_s
        acks = {c["name"]: c["checked"] for c in result.invariants}
        assert acks["messages stored once"] > 0, acks
    body = json.loads((OUT / "results.json").read_text())
    assert [f["fault"] for f in body["faults"]] == list(QUICK)
    table = (OUT / "table.txt").read_text().splitlines()
    assert table[0].split()[:3] == ["fault", "requests", "bad"]
    assert [line.split()[0] for line in table[2:]] == list(QUICK)
