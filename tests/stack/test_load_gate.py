"""The load gate of the test command: the mixed load (Locust) through nginx for under a minute,
each scenario judged by the p95 and error rate its SLOs allow (bench/gate.yaml); and the same
figures judged again with a threshold lowered below what was measured, which must fail and say
which threshold broke."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sichrplace.bench.mixed.gate import GATE_FILE
from sichrplace.config import PROJECT_ROOT

pytestmark = pytest.mark.stack
CLI = str(Path(sys.executable).parent / "sichrplace")


def _gate(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, "bench", "gate", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def gate_run() -> tuple[subprocess.CompletedProcess[str], Path]:
    # Kept with the run's artifacts: the figures a change proposes as the next baseline.
    out = PROJECT_ROOT / "build" / "test-artifacts" / "load-gate.json"
    out.unlink(missing_ok=True)
    return _gate("--out", str(out)), out


def test_the_gate_passes_under_the_mixed_load(
    gate_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    proc, out = gate_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "load gate: PASS" in proc.stdout
    figures = json.loads(out.read_text())["scenarios"]
    # Every scenario of the mix ran: searches, logins, messages, bookings and contracts.
    for scenario in ("browse", "accounts", "messaging", "bookings", "contracts"):
        assert figures[scenario]["requests"] > 0, scenario
    assert figures["browse"]["requests"] > figures["bookings"]["requests"]


def test_a_threshold_below_the_measured_p95_fails_the_gate_and_is_named(
    gate_run: tuple[subprocess.CompletedProcess[str], Path], tmp_path: Path
) -> None:
    _, out = gate_run
    measured = json.loads(out.read_text())["scenarios"]["messaging"]["p95_ms"]
    config = yaml.safe_load(GATE_FILE.read_text())
    lowered_p95 = round(measured / 2, 2)
    config["scenarios"]["messaging"]["p95_ms"] = lowered_p95
    lowered = tmp_path / "gate.yaml"
    lowered.write_text(yaml.safe_dump(config))

    proc = _gate("--judge", str(out), "--config", str(lowered), timeout=60)

    assert proc.returncode == 1, proc.stdout
    assert "load gate: FAIL" in proc.stdout
    assert f"messaging p95_ms {measured:g} breaks its threshold {lowered_p95:g}" in proc.stdout
    # The other scenarios kept their SLO thresholds and are not named.
    assert "browse p95_ms" not in proc.stdout

    # The same figures against the file as committed pass: only the lowered threshold broke.
    base = tmp_path / "baseline.json"
    again = _gate("--judge", str(out), "--update-baseline", "--baseline", str(base), timeout=60)
    assert again.returncode == 0, again.stdout
    # Accepted as a baseline, the figures keep the rate they were measured at.
    run = json.loads(out.read_text())
    accepted = json.loads(base.read_text())
    assert accepted["scenarios"] == run["scenarios"]
    assert accepted["achieved_rps"] == run["achieved_rps"] > 0
