"""Dashboards as code: the committed JSON is the generator's output, every panel's PromQL
parses (promtool, offline), and every metric it names is exported by our code, an exporter
the stack runs, or a recording rule (ops/dashboards/catalogue.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sichrplace.cli.main import app as cli
from sichrplace.ops.dashboards import build, catalogue, promql


def _boards() -> dict[str, dict[str, object]]:
    return {name: json.loads(text) for name, text in build.render_all().items()}


def _all_expressions() -> list[tuple[str, str, str]]:
    return [
        (name, title, expr)
        for name, board in _boards().items()
        for title, expr in build.expressions(board)
    ]


def test_committed_dashboards_are_the_generators_output() -> None:
    assert build.stale() == [], (
        "deploy/grafana/dashboards differs from ops/dashboards/spec.py: "
        "run `sichrplace dashboards generate` and commit the result"
    )


def test_check_mode_fails_on_a_changed_file(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["dashboards", "generate", "--target", str(tmp_path)]).exit_code == 0
    ok = runner.invoke(cli, ["dashboards", "generate", "--check", "--target", str(tmp_path)])
    assert ok.exit_code == 0, ok.output
    first = sorted(tmp_path.glob("*.json"))[0]
    first.write_text(first.read_text().replace("SichrPlace", "Sichr"))
    stale = runner.invoke(cli, ["dashboards", "generate", "--check", "--target", str(tmp_path)])
    assert stale.exit_code == 1
    assert first.name in stale.output


def test_every_topic_has_a_provisionable_dashboard() -> None:
    boards = _boards()
    titles = {board["title"] for board in boards.values()}
    for topic in ("API", "SLOs", "Postgres", "PgBouncer", "Cache", "Facet index", "Job queues",
                  "Integrations", "Core Web Vitals"):  # fmt: skip
        assert any(topic in str(t) for t in titles), topic
    for board in boards.values():
        assert board["uid"]
        assert board["panels"]
        variables = board["templating"]["list"]  # type: ignore[index]
        assert any(v["name"] == "datasource" and v["type"] == "datasource" for v in variables)
        panels = [p for p in board["panels"] if p["type"] != "row"]  # type: ignore[union-attr]
        assert all(p["datasource"]["uid"] == "${datasource}" for p in panels)
        assert all(p["targets"] for p in panels)


def test_metric_names_are_read_from_promql() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, route) (rate(a_bucket{route=~"/x"}[5m])))'
        " / on (slo) group_left b:rule:ratio offset 5m and 1e3 > bool c"
    )
    assert promql.metric_names(expr) == {"a_bucket", "b:rule:ratio", "c"}


def test_every_metric_a_panel_uses_exists() -> None:
    known = catalogue.known_metric_names()
    unknown = {
        f"{name} / {title}: {metric}"
        for name, title, expr in _all_expressions()
        for metric in promql.metric_names(expr)
        if metric not in known
    }
    assert not unknown, f"panels use metrics nobody exports: {sorted(unknown)}"


def test_the_names_check_would_catch_an_unknown_metric() -> None:
    assert "sichrplace_no_such_metric_total" not in catalogue.known_metric_names()
    # ... and ours are there, with the suffixes panels use.
    for name in (
        "sichrplace_http_request_duration_seconds_bucket",
        "sichrplace_jobs_queue_depth",
        "sichrplace_db_pool_connections",
        "sichrplace_web_vitals_lcp_seconds_bucket",
    ):
        assert name in catalogue.known_metric_names()


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("SICHRPLACE_REQUIRE_PROMTOOL") == "1":
            pytest.fail("promtool is missing (scripts/bootstrap.sh installs it)")
        pytest.skip("promtool is not installed (Debian package prometheus)")
    return path


def test_every_panel_expression_parses(tmp_path: Path) -> None:
    """promtool has no expression checker, but `check rules` parses each rule's expression:
    every panel's query becomes a recording rule of a throwaway file."""
    exprs = _all_expressions()
    rules = [
        {"record": f"dashboard:check:{i}", "expr": promql.with_values(expr)}
        for i, (_, _, expr) in enumerate(exprs)
    ]
    path = tmp_path / "dashboards.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    done = subprocess.run(
        [_promtool(), "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    numbered = "\n".join(f"dashboard:check:{i} = {n} / {t}" for i, (n, t, _) in enumerate(exprs))
    assert done.returncode == 0, f"{done.stdout}{done.stderr}\n{numbered}"


def test_promtool_catches_a_broken_expression(tmp_path: Path) -> None:
    path = tmp_path / "broken.rules.yml"
    broken = {"record": "dashboard:check:0", "expr": "sum by (route (rate(x[5m]))"}
    path.write_text(yaml.safe_dump({"groups": [{"name": "d", "rules": [broken]}]}))
    done = subprocess.run(
        [_promtool(), "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode != 0
