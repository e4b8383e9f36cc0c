"""SLOs as code: the committed rules are the generator's output, and the generator reads
deploy/slo/slos.yaml as documented (burn-rate windows, pending metrics, validation)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY
from typer.testing import CliRunner

from sichrplace.cli.main import app as cli
from sichrplace.ops import slo
from sichrplace.platform.observability.metrics import HTTP_LATENCY

VALID = """
version: 1
period: 30d
slos:
  - name: api-availability
    service: api
    objective: 99.5
    description: Non-5xx answers.
    sli: {kind: ratio, metric: m_total, selector: 'route=~"/api/.*"', bad: 'status=~"5.."'}
"""


def _rules(text: str) -> list[dict[str, Any]]:
    doc = yaml.safe_load(text)
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_committed_rules_are_the_generators_output() -> None:
    committed = slo.RULES_FILE.read_text()
    assert committed == slo.render_rules(slo.load_slos()), (
        "deploy/prometheus/rules/slo.rules.yml differs from what deploy/slo/slos.yaml gives: "
        "run `sichrplace slo generate` and commit the result"
    )


def test_the_declared_objectives() -> None:
    spec = slo.load_slos()
    by_name = {s.name: s for s in spec.slos}
    assert spec.period == "30d"
    assert by_name["api-availability"].objective == 99.5
    assert by_name["search-latency"].objective == 95
    assert by_name["search-latency"].sli.threshold_seconds == 0.4
    assert by_name["api-latency"].objective == 99
    assert by_name["api-latency"].sli.threshold_seconds == 1
    assert by_name["booking-success"].sli.metric == "sichrplace_bookings_total"
    assert by_name["payment-success"].sli.metric == "sichrplace_payments_total"


def test_every_exported_sli_metric_exists_with_its_threshold_as_a_bucket() -> None:
    """A renamed metric or a dropped bucket would leave an SLO silently empty."""
    import sichrplace.app  # noqa: F401 - registers every metric of the API

    names = set(REGISTRY._names_to_collectors)  # the registry offers no public listing
    for objective in slo.load_slos().slos:
        sli = objective.sli
        if objective.pending:
            continue
        if sli.kind == "ratio":
            assert sli.metric in names, objective.name
            continue
        assert f"{sli.metric}_bucket" in names, objective.name
        assert sli.metric == HTTP_LATENCY._name
        assert sli.threshold_seconds in HTTP_LATENCY._upper_bounds, (
            f"{objective.name}: {sli.threshold_seconds} s is not a bucket bound of {sli.metric}"
        )


def test_pending_slos_are_listed_in_the_generated_header() -> None:
    pending = VALID.replace("  - name: api-availability", "  - name: bookings") + (
        "    pending: exported by issue 99\n"
    )
    both = slo.parse_slos(VALID + "\n".join(pending.split("slos:\n")[1:]))
    header = slo.render_rules(both).split("groups:")[0]
    assert "bookings: exported by issue 99" in header
    assert "api-availability" not in header
    # Every declared SLO's metric is exported by now: none is pending.
    assert "pending" not in slo.render_rules(slo.load_slos()).split("groups:")[0]


def test_alerts_are_the_workbooks_multiwindow_burn_rates() -> None:
    rules = _rules(slo.render_rules(slo.parse_slos(VALID)))
    alerts = {rule["labels"]["severity"]: rule for rule in rules if "alert" in rule}
    assert set(alerts) == {"page", "ticket"}
    page, ticket = alerts["page"]["expr"], alerts["ticket"]["expr"]
    for long, short, factor in (("1h", "5m", "14.4"), ("6h", "30m", "6")):
        assert f'ratio_rate{long}{{slo="api-availability"}} > ({factor} * 0.005)' in page
        assert f'ratio_rate{short}{{slo="api-availability"}} > ({factor} * 0.005)' in page
    for long, short, factor in (("1d", "2h", "3"), ("3d", "6h", "1")):
        assert f'ratio_rate{long}{{slo="api-availability"}} > ({factor} * 0.005)' in ticket
        assert f'ratio_rate{short}{{slo="api-availability"}} > ({factor} * 0.005)' in ticket
    assert "1h" not in ticket
    assert "3d" not in page
    assert alerts["page"]["alert"] == "ApiAvailabilityErrorBudgetBurn"
    assert alerts["page"]["annotations"]["runbook_url"] == (
        "docs/runbooks/ApiAvailabilityErrorBudgetBurn.md"
    )
    recorded = {rule["record"] for rule in rules if "record" in rule}
    for window in ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"):
        assert f"slo:sli_error:ratio_rate{window}" in recorded


def test_sli_expressions() -> None:
    ratio = slo.Sli("ratio", "m_total", 'route=~"/api/.*"', bad='status=~"5.."')
    assert ratio.error_ratio("5m") == (
        '(sum(rate(m_total{route=~"/api/.*",status=~"5.."}[5m])) or vector(0))'
        ' / sum(rate(m_total{route=~"/api/.*"}[5m]))'
    )
    latency = slo.Sli("latency", "h_seconds", 'method="GET"', threshold_seconds=1)
    # prometheus_client writes the bound 1 as le="1.0": the selector must say the same.
    assert latency.error_ratio("1h") == (
        '1 - sum(rate(h_seconds_bucket{method="GET",le="1.0"}[1h]))'
        ' / sum(rate(h_seconds_count{method="GET"}[1h]))'
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("objective: 99.5", "objective: 100"), "between 0 and 100"),
        (("kind: ratio", "kind: quantile"), "unknown sli kind"),
        ((", bad: 'status=~\"5..\"'", ""), "`bad` is missing"),
        (("name: api-availability", "name: Api_Availability"), "lower-case words"),
        (("period: 30d", "period: a month"), "not a Prometheus duration"),
        (("    service: api\n", ""), "`service` is missing"),
        (("objective: 99.5", "objective: [99"), "not YAML"),
    ],
)
def test_invalid_declarations_are_refused_by_name(change: tuple[str, str], message: str) -> None:
    with pytest.raises(slo.SloError, match=message):
        slo.parse_slos(VALID.replace(*change))


def test_a_name_declared_twice_is_refused() -> None:
    twice = VALID + VALID.split("slos:\n")[1]
    with pytest.raises(slo.SloError, match="declared twice"):
        slo.parse_slos(twice)


def test_a_pending_metric_is_accepted_and_generates_rules() -> None:
    text = VALID + "    pending: exported by issue 99\n"
    spec = slo.parse_slos(text)
    assert spec.slos[0].pending == "exported by issue 99"
    assert _rules(slo.render_rules(spec))


def test_cli_generate_and_check(tmp_path: Path) -> None:
    source = tmp_path / "slos.yaml"
    source.write_text(VALID)
    target = tmp_path / "rules" / "slo.rules.yml"
    args = ["slo", "generate", "--source", str(source), "--target", str(target)]
    runner = CliRunner()

    missing = runner.invoke(cli, [*args, "--check"])
    assert missing.exit_code == 1
    assert not target.exists()

    written = runner.invoke(cli, args)
    assert written.exit_code == 0
    assert "written" in written.output
    assert runner.invoke(cli, [*args, "--check"]).exit_code == 0

    source.write_text(VALID.replace("99.5", "99.9"))
    assert runner.invoke(cli, [*args, "--check"]).exit_code == 1
    source.write_text(VALID.replace("kind: ratio", "kind: nope"))
    refused = runner.invoke(cli, args)
    assert refused.exit_code == 2
    assert "unknown sli kind" in refused.output
