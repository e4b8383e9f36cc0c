"""Alertmanager's configuration: rendered with the receivers' URLs, accepted by amtool, and
routing pages and tickets to their own Slack and Teams receivers (tickets inhibited by pages
of the same service)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from sichrplace.ops.alerting import ALERTMANAGER_TEMPLATE, Receivers, render_alertmanager
from tests.unit.ops.test_alert_rules import _tool

LOCAL = Receivers.local("http://127.0.0.1:59180/")


def _config() -> dict[str, Any]:
    parsed: dict[str, Any] = yaml.safe_load(
        render_alertmanager(LOCAL, runbook_base="https://code.example/blob/main/")
    )
    return parsed


def test_every_placeholder_is_filled() -> None:
    text = render_alertmanager(LOCAL)
    assert "${" not in text
    assert "$" not in text.replace("{{", "").split("receivers:")[1]
    receivers = {r["name"]: r for r in _config()["receivers"]}
    assert receivers["page"]["slack_configs"][0]["api_url"] == "http://127.0.0.1:59180/slack/page"
    assert receivers["ticket"]["webhook_configs"][0]["url"] == (
        "http://127.0.0.1:59180/teams/ticket"
    )
    text = receivers["page"]["slack_configs"][0]["text"]
    assert "Runbook: https://code.example/blob/main/{{ .Annotations.runbook_url }}" in text


def test_routes_group_and_inhibit() -> None:
    config = _config()
    route = config["route"]
    assert route["group_by"] == ["alertname", "service"]
    assert route["receiver"] == "ticket"  # an alert without a severity is not lost
    by_severity = {r["matchers"][0]: r["receiver"] for r in route["routes"]}
    assert by_severity == {'severity="page"': "page", 'severity="ticket"': "ticket"}
    for receiver in config["receivers"]:
        assert receiver["slack_configs"], receiver["name"]
        assert receiver["webhook_configs"], receiver["name"]
    assert config["inhibit_rules"] == [
        {
            "source_matchers": ['severity="page"'],
            "target_matchers": ['severity="ticket"'],
            "equal": ["service"],
        }
    ]


@pytest.mark.parametrize(
    "url", ["ftp://x/hook", "http://x/a'b", "http://x/${y}", "http://x/a b", "not a url"]
)
def test_urls_that_would_break_the_config_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="slack_page_url"):
        render_alertmanager(Receivers(url, "http://x/", "http://x/", "http://x/"))
    with pytest.raises(ValueError, match="runbook_base"):
        render_alertmanager(LOCAL, runbook_base="https://code.example/no-slash")


def test_amtool_accepts_the_config_and_routes_by_severity(tmp_path: Path) -> None:
    amtool = _tool("amtool")
    config = tmp_path / "alertmanager.yml"
    config.write_text(render_alertmanager(LOCAL, runbook_base="https://code.example/"))
    checked = subprocess.run(
        [amtool, "check-config", str(config)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for labels, receiver in (
        (["severity=page", "service=api"], "page"),
        (["severity=ticket", "service=worker"], "ticket"),
        (["service=api"], "ticket"),
    ):
        routed = subprocess.run(
            [amtool, "config", "routes", "test", f"--config.file={config}", *labels],
            capture_output=True,
            text=True,
            check=False,
        )
        assert routed.stdout.strip() == receiver, (labels, routed.stdout, routed.stderr)


def test_msteams_configs_needs_a_newer_alertmanager(tmp_path: Path) -> None:
    """Why Teams gets webhook_configs: Alertmanager 0.25 refuses msteams_configs. When this
    fails, the installed Alertmanager has it (0.26+): switch the template to it."""
    amtool = _tool("amtool")
    config = tmp_path / "teams.yml"
    config.write_text(
        "route: {receiver: t}\n"
        "receivers:\n  - name: t\n    msteams_configs:\n      - webhook_url: http://x/\n"
    )
    checked = subprocess.run(
        [amtool, "check-config", str(config)], capture_output=True, text=True, check=False
    )
    assert checked.returncode != 0
    assert "msteams_configs" in checked.stdout + checked.stderr
    assert "webhook_configs" in ALERTMANAGER_TEMPLATE.read_text()
