"""SLOs as code: deploy/slo/slos.yaml -> Prometheus recording rules and burn-rate alerts.

The alerts are the multiwindow, multi-burn-rate alerts of the Google SRE Workbook (ch. 5,
"Alerting on SLOs"): an alert fires while the error ratio over a long window AND over a short
one both exceed `factor` times the error budget. The long window makes it significant, the
short one makes it reset soon after the errors stop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.utils import floatToGoString

from sichrplace.config import PROJECT_ROOT

SLO_FILE = PROJECT_ROOT / "deploy" / "slo" / "slos.yaml"
RULES_FILE = PROJECT_ROOT / "deploy" / "prometheus" / "rules" / "slo.rules.yml"
RUNBOOKS = "docs/runbooks"

_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_DURATION = re.compile(r"^[0-9]+[mhdw]$")


@dataclass(frozen=True)
class BurnWindow:
    """One window pair of the Workbook's table: page or ticket at `factor` times the budget."""

    severity: str
    long: str
    short: str
    factor: float
    # Share of a 30-day budget one long window at this rate spends (the Workbook's column).
    budget_spent: str


BURN_WINDOWS = (
    BurnWindow("page", "1h", "5m", 14.4, "2%"),
    BurnWindow("page", "6h", "30m", 6, "5%"),
    BurnWindow("ticket", "1d", "2h", 3, "10%"),
    BurnWindow("ticket", "3d", "6h", 1, "10%"),
)
# Every window an alert reads (the spec's period is recorded too, for budget dashboards).
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")


class SloError(ValueError):
    """slos.yaml declares something the generator cannot turn into rules."""


@dataclass(frozen=True)
class Sli:
    kind: str  # ratio | latency
    metric: str
    selector: str
    bad: str = ""
    threshold_seconds: float = 0.0

    def error_ratio(self, window: str) -> str:
        """PromQL for the share of bad events among all events over `window`."""
        if self.kind == "latency":
            # The exporter's own spelling of a bound (1 -> "1.0"): le is matched as text.
            le = floatToGoString(self.threshold_seconds)  # type: ignore[no-untyped-call]
            good = f'sum(rate({self.metric}_bucket{{{self.selector},le="{le}"}}[{window}]))'
            total = f"sum(rate({self.metric}_count{{{self.selector}}}[{window}]))"
            return f"1 - {good} / {total}"
        # `or vector(0)`: no bad event yet is a ratio of 0, not an empty result.
        bad = f"sum(rate({self.metric}{{{self.selector},{self.bad}}}[{window}]))"
        total = f"sum(rate({self.metric}{{{self.selector}}}[{window}]))"
        return f"({bad} or vector(0)) / {total}"


@dataclass(frozen=True)
class Slo:
    name: str
    service: str
    objective: float  # percent, e.g. 99.5
    description: str
    sli: Sli
    pending: str = ""  # why the metric does not exist yet ("" when it does)

    @property
    def budget(self) -> float:
        """The error budget as a ratio (0.005 for 99.5%), rounded off float noise."""
        return round(1 - self.objective / 100, 10)

    @property
    def alert(self) -> str:
        """The alert's name: api-availability -> ApiAvailabilityErrorBudgetBurn."""
        return "".join(part.capitalize() for part in self.name.split("-")) + "ErrorBudgetBurn"


@dataclass(frozen=True)
class SloSpec:
    period: str
    slos: tuple[Slo, ...]


def _field(raw: dict[str, Any], key: str, where: str, kind: type, *, required: bool = True) -> Any:
    value = raw.get(key)
    if value is None:
        if required:
            raise SloError(f"{where}: `{key}` is missing")
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind):
        raise SloError(f"{where}: `{key}` must be a {kind.__name__}, not {value!r}")
    return value


def _sli(raw: Any, where: str) -> Sli:
    if not isinstance(raw, dict):
        raise SloError(f"{where}: `sli` must be a mapping")
    kind = _field(raw, "kind", where, str)
    metric = _field(raw, "metric", where, str)
    selector = _field(raw, "selector", where, str).strip()
    if not selector:
        raise SloError(f"{where}: `selector` is empty (pick the events that count)")
    if kind == "ratio":
        bad = _field(raw, "bad", where, str).strip()
        if not bad:
            raise SloError(f"{where}: `bad` is empty")
        return Sli(kind, metric, selector, bad=bad)
    if kind == "latency":
        threshold = _field(raw, "threshold_seconds", where, float)
        if threshold <= 0:
            raise SloError(f"{where}: `threshold_seconds` must be positive")
        return Sli(kind, metric, selector, threshold_seconds=threshold)
    raise SloError(f"{where}: unknown sli kind {kind!r} (ratio or latency)")


def parse_slos(text: str) -> SloSpec:
    """Validate slos.yaml's text; SloError names the SLO and field at fault."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SloError(f"slos.yaml is not YAML: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("version") != 1:
        raise SloError("slos.yaml: expected a mapping with `version: 1`")
    period = _field(raw, "period", "slos.yaml", str)
    if not _DURATION.match(period):
        raise SloError(f"slos.yaml: `period` {period!r} is not a Prometheus duration")
    entries = _field(raw, "slos", "slos.yaml", list)
    slos: list[Slo] = []
    for index, entry in enumerate(entries):
        where = f"slos[{index}]"
        if not isinstance(entry, dict):
            raise SloError(f"{where}: must be a mapping")
        name = _field(entry, "name", where, str)
        where = f"slo {name!r}"
        if not _NAME.match(name):
            raise SloError(f"{where}: a name is lower-case words joined by '-'")
        if any(slo.name == name for slo in slos):
            raise SloError(f"{where}: declared twice")
        objective = _field(entry, "objective", where, float)
        if not 0 < objective < 100:
            raise SloError(f"{where}: `objective` is a percentage between 0 and 100")
        slos.append(
            Slo(
                name=name,
                service=_field(entry, "service", where, str),
                objective=objective,
                description=" ".join(_field(entry, "description", where, str).split()),
                sli=_sli(entry.get("sli"), where),
                pending=_field(entry, "pending", where, str, required=False) or "",
            )
        )
    if not slos:
        raise SloError("slos.yaml: no SLO declared")
    return SloSpec(period=period, slos=tuple(slos))


def load_slos(path: Path = SLO_FILE) -> SloSpec:
    return parse_slos(path.read_text())


def _percent(value: float) -> str:
    return f"{value:g}%"


def _alert(slo: Slo, severity: str, period: str) -> dict[str, Any]:
    windows = [w for w in BURN_WINDOWS if w.severity == severity]
    selector = f'{{slo="{slo.name}"}}'
    branches = [
        f"(\n  slo:sli_error:ratio_rate{w.long}{selector} > ({w.factor:g} * {slo.budget:g})\n"
        f"and\n  slo:sli_error:ratio_rate{w.short}{selector} > ({w.factor:g} * {slo.budget:g})\n)"
        for w in windows
    ]
    pairs = " or ".join(f"{w.long}/{w.short} at {w.factor:g}x" for w in windows)
    speed = "fast" if severity == "page" else "slow"
    return {
        "alert": slo.alert,
        "expr": "\n".join(branches[:1] + [f"or\n{b}" for b in branches[1:]]) + "\n",
        "labels": {"severity": severity, "service": slo.service, "slo": slo.name},
        "annotations": {
            "summary": f"SLO {slo.name} ({_percent(slo.objective)}): {speed} error budget burn",
            "description": (
                f"{slo.description} Objective {_percent(slo.objective)} over {period}. The "
                f"error ratio is above the burn-rate threshold over both windows of a pair "
                f"({pairs}); over the long window it is {{{{ $value | humanizePercentage }}}} "
                f"(budget {_percent(slo.budget * 100)})."
            ),
            "runbook_url": f"{RUNBOOKS}/{slo.alert}.md",
        },
    }


def rule_groups(spec: SloSpec) -> list[dict[str, Any]]:
    """One group per SLO: its recording rules, then its alerts (a group evaluates in order,
    so the alerts read this round's ratios)."""
    groups: list[dict[str, Any]] = []
    for slo in spec.slos:
        labels = {"slo": slo.name, "service": slo.service}
        rules: list[dict[str, Any]] = [
            {
                "record": f"slo:sli_error:ratio_rate{window}",
                "expr": slo.sli.error_ratio(window),
                "labels": labels,
            }
            for window in (*WINDOWS, spec.period)
        ]
        # Constants for dashboards and budget arithmetic (remaining = 1 - ratio / budget).
        rules.append(
            {"record": "slo:objective:ratio", "expr": f"vector({slo.objective / 100:g})"}
            | {"labels": labels}
        )
        rules.append(
            {"record": "slo:error_budget:ratio", "expr": f"vector({slo.budget:g})"}
            | {"labels": labels}
        )
        rules.append(_alert(slo, "page", spec.period))
        rules.append(_alert(slo, "ticket", spec.period))
        groups.append({"name": f"slo-{slo.name}", "rules": rules})
    return groups


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (alert expressions) as `|` blocks, and no anchors or aliases for
    shared label maps: the file is read in reviews."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render_rules(spec: SloSpec) -> str:
    """The text of slo.rules.yml for `spec` (deterministic: the committed file is compared)."""
    header = [
        "# Generated by `sichrplace slo generate` from deploy/slo/slos.yaml: do not edit by hand.",
        "# Burn-rate windows (SRE Workbook ch. 5): "
        + "; ".join(f"{w.severity} {w.long} and {w.short} at {w.factor:g}x" for w in BURN_WINDOWS)
        + ".",
    ]
    pending = [slo for slo in spec.slos if slo.pending]
    if pending:
        header.append(
            "# SLOs whose metric is not exported yet (their rules stay empty until it is):"
        )
        header += [f"#   {slo.name}: {slo.pending}" for slo in pending]
    body = yaml.dump(
        {"groups": rule_groups(spec)},
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        width=1000,
        allow_unicode=True,
    )
    return "\n".join(header) + "\n" + body


def generate(source: Path = SLO_FILE, target: Path = RULES_FILE, *, check: bool = False) -> bool:
    """Write the rules for `source` to `target`; True when `target` was (or, with `check`,
    would be) changed."""
    text = render_rules(load_slos(source))
    current = target.read_text() if target.exists() else None
    if current == text:
        return False
    if not check:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return True
