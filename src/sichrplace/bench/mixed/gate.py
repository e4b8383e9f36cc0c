"""The load gate of the test command (`sichrplace bench gate`): a short mixed load on the small
data set, each scenario of the mix judged by a p95 and an error rate taken from the SLO file,
and compared with the last accepted figures (the baseline file).

`bench/gate.yaml` says how the load runs and which SLO each scenario's thresholds come from;
an explicit `p95_ms` or `error_rate` there overrides the SLO's (that is how a test shows the
gate fails). The thresholds are the SLOs' own, not the tighter targets of `bench mixed`: the
SLOs are what users are promised, and they leave the headroom a 2-core CI machine running the
whole stack and the load generator needs.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from sichrplace.bench.mixed.ops import GROUPS
from sichrplace.bench.mixed.run import MixedResult
from sichrplace.config import PROJECT_ROOT
from sichrplace.ops.slo import SLO_FILE, Slo, load_slos

GATE_FILE = PROJECT_ROOT / "bench" / "gate.yaml"
BASELINE_FILE = PROJECT_ROOT / "bench" / "baselines" / "gate.json"


@dataclass(frozen=True)
class Threshold:
    scenario: str
    p95_ms: float
    error_rate: float
    source: str  # where the figures come from (the SLOs' names, or "gate.yaml")


@dataclass(frozen=True)
class GateConfig:
    rate: float
    duration_s: float
    warmup_s: float
    listeners: int
    min_tasks: float
    thresholds: dict[str, Threshold]


@dataclass(frozen=True)
class Breach:
    scenario: str
    what: str  # "p95_ms" | "error_rate" | "requests"
    measured: float
    threshold: float

    def __str__(self) -> str:
        return (
            f"{self.scenario} {self.what} {self.measured:g} breaks its threshold {self.threshold:g}"
        )


def _slo(slos: dict[str, Slo], name: str, where: str) -> Slo:
    if name not in slos:
        raise ValueError(f"{where}: no SLO named {name!r} in {SLO_FILE.name}")
    return slos[name]


def load_config(path: Path = GATE_FILE, slo_path: Path = SLO_FILE) -> GateConfig:
    raw: dict[str, Any] = yaml.safe_load(path.read_text())
    slos = {s.name: s for s in load_slos(slo_path).slos}
    thresholds: dict[str, Threshold] = {}
    for scenario, spec in raw["scenarios"].items():
        if scenario not in GROUPS:
            raise ValueError(f"{path.name}: unknown scenario {scenario!r} (one of {list(GROUPS)})")
        latency = _slo(slos, spec["latency_slo"], f"{path.name} {scenario}")
        errors = _slo(slos, spec["errors_slo"], f"{path.name} {scenario}")
        p95 = spec.get("p95_ms", latency.sli.threshold_seconds * 1000)
        rate = spec.get("error_rate", round(1 - errors.objective / 100, 6))
        source = f"p95 {latency.name}, errors {errors.name}"
        if "p95_ms" in spec or "error_rate" in spec:
            source += f" (overridden in {path.name})"
        thresholds[scenario] = Threshold(scenario, float(p95), float(rate), source)
    return GateConfig(
        rate=float(raw["rate"]),
        duration_s=float(raw["duration_s"]),
        warmup_s=float(raw["warmup_s"]),
        listeners=int(raw.get("listeners", 10)),
        min_tasks=float(raw.get("min_tasks", 0)),
        thresholds=thresholds,
    )


def summarize(result: MixedResult) -> dict[str, dict[str, float]]:
    """Per scenario: requests, p95 and the share of requests that failed."""
    out: dict[str, dict[str, float]] = {}
    for scenario in GROUPS:
        m = result.groups[scenario]
        out[scenario] = {
            "requests": m.requests,
            "rps": m.rps,
            "p95_ms": m.p95_ms,
            "error_rate": round(m.errors / m.requests, 6) if m.requests else 0.0,
        }
    return out


def judge(summary: dict[str, dict[str, float]], thresholds: dict[str, Threshold]) -> list[Breach]:
    """Every threshold the figures break; a scenario that made no request breaks too."""
    breaches: list[Breach] = []
    for scenario, limit in thresholds.items():
        got = summary.get(scenario, {"requests": 0, "p95_ms": 0.0, "error_rate": 0.0})
        if not got["requests"]:
            breaches.append(Breach(scenario, "requests", 0, 1))
            continue
        if got["p95_ms"] > limit.p95_ms:
            breaches.append(Breach(scenario, "p95_ms", got["p95_ms"], limit.p95_ms))
        if got["error_rate"] > limit.error_rate:
            breaches.append(Breach(scenario, "error_rate", got["error_rate"], limit.error_rate))
    return breaches


def compare(summary: dict[str, dict[str, float]], baseline: dict[str, Any]) -> list[str]:
    """Each scenario's p95 and error rate beside the last accepted figures."""
    lines = []
    accepted = baseline.get("scenarios", {})
    for scenario, got in summary.items():
        before = accepted.get(scenario)
        if not before:
            lines.append(f"{scenario:10s} p95 {got['p95_ms']:7.1f} ms   (no baseline)")
            continue
        change = (got["p95_ms"] / before["p95_ms"] - 1) * 100 if before["p95_ms"] else 0.0
        lines.append(
            f"{scenario:10s} p95 {got['p95_ms']:7.1f} ms   baseline {before['p95_ms']:7.1f} ms"
            f" ({change:+.0f}%)   errors {got['error_rate']:.4f} (baseline"
            f" {before['error_rate']:.4f})"
        )
    return lines


def table(summary: dict[str, dict[str, float]], thresholds: dict[str, Threshold]) -> str:
    head = f"{'scenario':10s} {'requests':>8s} {'rps':>6s} {'p95 ms':>8s} {'<=':>8s}"
    head += f" {'errors':>8s} {'<=':>8s}  thresholds from"
    lines = [head, "-" * len(head)]
    for scenario, limit in thresholds.items():
        got = summary.get(scenario, {"requests": 0, "rps": 0.0, "p95_ms": 0.0, "error_rate": 0.0})
        lines.append(
            f"{scenario:10s} {int(got['requests']):8d} {got['rps']:6.1f} {got['p95_ms']:8.1f}"
            f" {limit.p95_ms:8.0f} {got['error_rate']:8.4f} {limit.error_rate:8.4f}"
            f"  {limit.source}"
        )
    return "\n".join(lines)


def write_summary(path: Path, summary: dict[str, Any], config: GateConfig, rate: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "rate": config.rate,
        "achieved_rps": rate,
        "duration_s": config.duration_s,
        "thresholds": {k: asdict(v) for k, v in config.thresholds.items()},
        "scenarios": summary,
    }
    path.write_text(json.dumps(data, indent=2) + "\n")


def read_summary(path: Path) -> dict[str, dict[str, float]]:
    data: dict[str, dict[str, float]] = json.loads(path.read_text())["scenarios"]
    return data
