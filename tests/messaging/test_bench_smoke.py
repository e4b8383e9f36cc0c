"""`sichrplace bench messaging` at a small size against the running stack: every phase runs,
every message sent is counted on every stream of both participants exactly once, the replay
with Last-Event-ID matches what the streams received, and the results file says so. The
latency targets are not judged here (the machine running the suite is busy with it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sichrplace.bench.messaging import MessagingBenchConfig, run
from sichrplace.config import Settings

pytestmark = pytest.mark.stack


def test_a_short_run_loses_nothing_and_repeats_nothing(
    settings: Settings, stack_url: str, tmp_path: Path
) -> None:
    lines: list[str] = []
    cfg = MessagingBenchConfig(
        runs=1,
        connections=40,
        streams_per_user=2,  # 20 users, 10 conversations
        concurrency=4,
        warmup_s=0.5,
        capacity_s=1.0,
        duration_s=1.5,
        rate=15.0,  # within the per-user send limit for the whole test
        ceiling_s=0.3,
        base_url=stack_url,
        results_dir=tmp_path,
    )
    report, path = run(cfg, settings, lines.append)
    assert path.parent == tmp_path
    assert json.loads(path.read_text())["benchmark"] == "messaging"
    streams = report["streams"]
    assert streams["opened"] == {**streams["opened"], "opened": 40, "failed": 0}
    assert streams["holders"]["drops"] == 0
    measured = report["runs"][0]["measured"]
    assert measured["sent"] > 0
    assert measured["statuses"] == {"201": measured["sent"]}
    # Each message: both streams of the recipient and both of the sender.
    assert measured["expected_arrivals"] == 4 * measured["sent"] == measured["arrivals"]
    assert report["median"]["send_to_receive"]["rps"] > 0
    assert report["replay"]["users"] == 20
    assert report["replay"]["events"] > 0
    checks = report["verdict"]["checks"]
    assert {name for name, c in checks.items() if not c["ok"]} == set(), checks
    assert any(line.startswith("replay with Last-Event-ID") for line in lines)
