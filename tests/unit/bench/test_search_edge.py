"""`sichrplace bench search` with the edge: each scenario's hit ratio from nginx's access log,
and the uncached scenarios judged on passing the edge by."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sichrplace.bench import runner
from sichrplace.bench.load import Measurement
from sichrplace.stack.edge import hits


def _m(hit: float | None, bypass: float | None = 0.0) -> Measurement:
    return Measurement(100.0, 1.0, 2.0, 3.0, 0, 1000, None, hit, bypass)


def test_the_scenarios_requests_in_the_log_give_its_shares(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hits, "FLUSH_SECONDS", 0)
    log = tmp_path / "nginx-access.log"
    log.write_text("")
    window = hits.LogWindow(log)
    lines = [{"uri": "/a", "cache": "HIT"}] * 9 + [{"uri": "/a", "cache": "MISS"}]
    lines.append({"uri": "/unrelated", "cache": "MISS"})
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    measured = runner.with_edge(_m(None, None), window, ["/a"])
    assert measured.edge_hit_ratio == 0.9
    assert measured.edge_bypass_ratio == 0.0
    assert "edge HIT 90.0%" in runner._fmt(measured)


def test_median_verdict_and_table_show_the_hit_ratio() -> None:
    runs = [
        {"search_cached": _m(0.98), "search_uncached": _m(0.0, 1.0), "static_json": _m(None)},
        {"search_cached": _m(0.96), "search_uncached": _m(0.01, 0.99), "static_json": _m(None)},
        {"search_cached": _m(0.97), "search_uncached": _m(0.0, 1.0), "static_json": _m(None)},
    ]
    median = runner.median_of(runs)
    assert median["search_cached"]["edge_hit_ratio"] == 0.97
    assert "edge_hit_ratio" not in median["static_json"]
    median["pgbench_search"] = median["static_json"]
    verdict = runner.verdicts(median)
    assert verdict["search_uncached"]["edge_bypassed"] is True
    assert "edge_bypassed" not in verdict["search_cached"]
    table = runner.table(median, verdict)
    assert "edge HIT" in table.splitlines()[0]
    assert "97.0%" in table
