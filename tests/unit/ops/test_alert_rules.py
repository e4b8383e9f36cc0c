"""The Prometheus rules under deploy/prometheus: every alert is labelled, annotated, has a
runbook, and has promtool cases where it fires and where it does not; promtool passes them.

promtool comes from Debian's `prometheus` package (scripts/bootstrap.sh installs it). Without
it the promtool tests skip, except where SICHRPLACE_REQUIRE_PROMTOOL=1 (the full test
command sets it: there a missing promtool is a failure, not a skip).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from sichrplace.config import PROJECT_ROOT
from sichrplace.ops.dashboards import catalogue, promql

PROMETHEUS = PROJECT_ROOT / "deploy" / "prometheus"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yml"))
TEST_FILES = sorted((PROMETHEUS / "tests").glob("*.yml"))
RUNBOOKS = PROJECT_ROOT / "docs" / "runbooks"
SECTIONS = ("## What it means", "## How to confirm", "## How to mitigate", "## How to escalate")


@dataclass(frozen=True)
class Alert:
    name: str
    severity: str
    rule: dict[str, Any]
    file: str


def _alerts() -> list[Alert]:
    found = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    severity = rule.get("labels", {}).get("severity", "")
                    found.append(Alert(rule["alert"], severity, rule, path.name))
    return found


ALERTS = _alerts()


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("SICHRPLACE_REQUIRE_PROMTOOL") == "1":
            pytest.fail(f"{name} is missing (scripts/bootstrap.sh installs it)")
        pytest.skip(f"{name} is not installed (Debian package prometheus/prometheus-alertmanager)")
    return path


def test_rule_files_and_alerts_exist() -> None:
    assert [p.name for p in RULE_FILES] == ["platform.rules.yml", "slo.rules.yml"]
    names = {alert.name for alert in ALERTS}
    for expected in (
        "PostgresReplicaLagHigh",
        "JobQueueOldestAgeHigh",
        "JobDeadLetters",
        "CacheHitRatioCollapse",
        "CircuitBreakerOpen",
        "DbPoolSaturated",
        "FacetIndexStale",
        "TargetDown",
        "ApiMetricsAbsent",
        "ApiAvailabilityErrorBudgetBurn",
    ):
        assert expected in names


@pytest.mark.parametrize("alert", ALERTS, ids=lambda a: f"{a.name}-{a.severity}")
def test_every_alert_is_labelled_and_annotated_with_a_runbook(alert: Alert) -> None:
    labels, annotations = alert.rule.get("labels", {}), alert.rule.get("annotations", {})
    assert alert.severity in {"page", "ticket"}, f"{alert.name}: severity page or ticket"
    assert labels.get("service"), f"{alert.name}: Alertmanager groups and inhibits by service"
    for key in ("summary", "description", "runbook_url"):
        assert annotations.get(key), f"{alert.name} ({alert.file}) lacks annotation {key}"
    assert annotations["runbook_url"] == f"docs/runbooks/{alert.name}.md"
    runbook = PROJECT_ROOT / annotations["runbook_url"]
    assert runbook.is_file(), f"{alert.name}: no runbook at {runbook}"
    text = runbook.read_text()
    for section in SECTIONS:
        assert section in text, f"{runbook.name} lacks the section {section!r}"


def test_the_runbook_index_lists_every_runbook() -> None:
    index = (RUNBOOKS / "README.md").read_text()
    for runbook in RUNBOOKS.glob("*.md"):
        if runbook.name != "README.md":
            assert f"({runbook.name})" in index, f"docs/runbooks/README.md lacks {runbook.name}"
    for name in {alert.name for alert in ALERTS}:
        assert f"({name}.md)" in index


def _cases() -> list[tuple[str, set[str]]]:
    """(alertname, severities expected to fire) for each eval of every promtool test."""
    cases = []
    for path in TEST_FILES:
        doc = yaml.safe_load(path.read_text())
        for test in doc["tests"]:
            for case in test.get("alert_rule_test", []):
                firing = {a["exp_labels"]["severity"] for a in case.get("exp_alerts") or []}
                cases.append((case["alertname"], firing))
    return cases


def test_promtool_tests_load_every_rule_file() -> None:
    loaded = set()
    for path in TEST_FILES:
        for name in yaml.safe_load(path.read_text())["rule_files"]:
            loaded.add((path.parent / name).resolve())
    assert loaded == {path.resolve() for path in RULE_FILES}


@pytest.mark.parametrize("alert", ALERTS, ids=lambda a: f"{a.name}-{a.severity}")
def test_every_alert_has_a_firing_and_a_non_firing_case(alert: Alert) -> None:
    cases = [firing for name, firing in _cases() if name == alert.name]
    assert any(alert.severity in firing for firing in cases), (
        f"{alert.name} ({alert.severity}): no promtool case where it fires "
        "(deploy/prometheus/tests/)"
    )
    assert any(alert.severity not in firing for firing in cases), (
        f"{alert.name} ({alert.severity}): no promtool case where it stays silent"
    )


def test_promtool_checks_the_rules() -> None:
    promtool = _tool("promtool")
    result = subprocess.run(
        [promtool, "check", "rules", *map(str, RULE_FILES)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass() -> None:
    promtool = _tool("promtool")
    # One promtool per file, side by side: the files are independent and each takes seconds.
    runs = [
        (
            path,
            subprocess.Popen(
                [promtool, "test", "rules", str(path)],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            ),
        )
        for path in TEST_FILES
    ]
    for path, run in runs:
        output, _ = run.communicate()
        assert run.returncode == 0, f"{path.name}:\n{output}"


def test_every_metric_a_rule_reads_is_exported_or_recorded() -> None:
    # An alert on a metric nobody exports stays silent forever: the same check as the panels'.
    known = catalogue.known_metric_names()
    unknown = {
        f"{path.name} / {rule.get('alert') or rule.get('record')}: {metric}"
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        for metric in promql.metric_names(rule["expr"])
        if metric not in known
    }
    assert not unknown, f"rules read metrics nobody exports: {sorted(unknown)}"
