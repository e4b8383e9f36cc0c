"""`sichrplace chaos run`: each fault of the matrix injected while the mixed load runs, then
the invariants checked and the fault's cost computed.

Per fault: (arm the fault proxy when the fault needs it) start the mixed load, let it run a
baseline, inject, hold, clear, wait until the stack has settled, keep the load a little
longer, stop it; then the invariants over the load's ack log (`invariants.check_all`) and the
error budget and recovery time from its timeline (`budget`). Each fault's result goes to
`build/chaos/<timestamp>/results.json` as soon as it is known (an interrupted run keeps what
it had); the fault's own load files are in a folder of its name beside it.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sichrplace.bench.mixed.run import LoadSpec, MixedLoad, MixedResult, start_load
from sichrplace.chaos import budget
from sichrplace.chaos.base import Fault, FaultContext
from sichrplace.chaos.check import Check
from sichrplace.chaos.invariants import check_all
from sichrplace.config import PROJECT_ROOT, Settings
from sichrplace.ops.slo import load_slos
from sichrplace.stack.faults import placement
from sichrplace.stack.layout import Layout

Progress = Callable[[str], None]
RESULTS_ROOT = PROJECT_ROOT / "build" / "chaos"
AVAILABILITY_SLO = "api-availability"


@dataclass(frozen=True)
class RunSpec:
    """How each fault is run: the load's rate and cast, the baseline before the injection,
    the tail after the stack settled; `hold_s` overrides each fault's own hold."""

    rate: float = 80.0
    baseline_s: float = 15.0
    tail_s: float = 10.0
    hold_s: float | None = None
    small_cast: bool = False  # the test command's subset: fewer users to make

    def load_spec(self, fault: Fault) -> LoadSpec:
        hold = self.hold_s if self.hold_s is not None else fault.hold_s
        # Long enough for the slowest settle; the runner stops it once the tail is over.
        duration = self.baseline_s + hold + fault.settle_timeout_s + self.tail_s + 30
        if self.small_cast:
            return LoadSpec(
                rate=self.rate,
                duration_s=duration,
                warmup_s=3.0,
                listeners=6,
                bookers=12,
                landlords=3,
                pairs=12,
                logins=4,
                contracts=6,
            )
        return LoadSpec(rate=self.rate, duration_s=duration)


@dataclass
class FaultResult:
    """One fault's run: its moments (unix times), the load's totals, what it cost, and the
    invariants' verdicts; `error` when a step of the fault itself failed."""

    fault: str
    description: str
    hold_s: float
    load_started_at: float = 0.0
    injected_at: float = 0.0
    cleared_at: float = 0.0
    settled_at: float = 0.0
    load: dict[str, Any] = field(default_factory=dict)
    budget: dict[str, Any] = field(default_factory=dict)
    recovery: dict[str, Any] = field(default_factory=dict)
    invariants: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""

    @property
    def held(self) -> bool:
        return bool(self.invariants) and all(c["held"] for c in self.invariants)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "held": self.held}


def results_dir(now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return RESULTS_ROOT / stamp


def availability_objective() -> tuple[float, int]:
    """The api-availability SLO's objective (percent) and the period (seconds)."""
    spec = load_slos()
    slo = next(s for s in spec.slos if s.name == AVAILABILITY_SLO)
    return slo.objective, budget.period_seconds(spec.period)


def _sleep_while_running(load: MixedLoad, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not load.running():
            raise RuntimeError("the mixed load ended early (see locust.log in the fault's folder)")
        time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))


def _wait_first_request(load: MixedLoad, timeout_s: float = 30.0) -> None:
    """Until Locust's users are at work (its start takes seconds on a busy machine), so the
    warm-up and the baseline are measured from the load's real start: the first write
    acknowledged (the ack log is written unbuffered; the request log is buffered)."""
    deadline = time.monotonic() + timeout_s
    while not any(p.stat().st_size for p in load.out_dir.glob("acks-*.jsonl")):
        if time.monotonic() > deadline:
            return  # the baseline then starts late rather than never
        _sleep_while_running(load, 0.3)


def _costs(out: FaultResult, result: MixedResult) -> None:
    """The budget spent from the injection until the service recovered (or settled, or its
    last error, whichever is latest: every error after the injection is the fault's), the
    recovery times, and the bad requests of the baseline before it (the run's own noise)."""
    objective, period_s = availability_objective()
    rec = budget.recovery(result.timeline, out.injected_at, out.cleared_at, out.settled_at)
    ends = [out.settled_at, out.injected_at + (rec.last_bad_s or 0.0)]
    if rec.recovered_s is not None:
        ends.append(out.injected_at + rec.recovered_s + budget.RECOVERED_AFTER_CLEAN_SECONDS)
    else:
        ends += [s.t + 1 for s in result.timeline]
    end = max(ends)
    rate = result.total_rate() or None
    spent = budget.spent(
        result.timeline,
        out.injected_at,
        end,
        objective_percent=objective,
        period_s=period_s,
        rate=rate,
    )
    before = budget.spent(
        result.timeline,
        result.measured_from,
        out.injected_at - 1,
        objective_percent=objective,
        period_s=period_s,
        rate=rate,
    )
    out.budget = {
        **asdict(spent),
        "objective": objective,
        "window_s": round(end - out.injected_at, 1),
        "baseline_requests": before.requests,
        "baseline_bad": before.bad,
    }
    out.recovery = asdict(rec)
    out.load = {
        "rate": result.total_rate(),
        "requests": sum(s.requests for s in result.timeline),
        "status_5xx": result.total_5xx(),
        "no_answer": result.total_no_answer(),
        "returncode": result.returncode,
        "acks": [str(p) for p in result.ack_paths],
    }


def run_fault(
    fault: Fault,
    settings: Settings,
    layout: Layout,
    spec: RunSpec,
    out_dir: Path,
    progress: Progress,
    *,
    proxy_armed: bool = False,
) -> FaultResult:
    """One fault under the load, as the module says; the invariants are checked even when a
    step of the fault failed (an error is no reason to skip looking for lost writes).
    `proxy_armed`: the caller armed the fault proxy already (and disarms it)."""
    hold = spec.hold_s if spec.hold_s is not None else fault.hold_s
    out = FaultResult(fault.name, fault.description, hold)
    ctx = FaultContext(settings, layout, progress)
    armed = False
    result: MixedResult | None = None
    load: MixedLoad | None = None
    try:
        if fault.needs_proxy and not proxy_armed:
            progress("arming the fault proxy (the API instances restart one at a time)")
            placement.arm(settings, layout, progress)
            armed = True
        # The load appends to its logs: a folder left by an earlier run would mix its
        # acknowledgements (and their events) into this run's checks.
        shutil.rmtree(out_dir / fault.name, ignore_errors=True)
        load = start_load(settings, spec.load_spec(fault), out_dir / fault.name, progress)
        out.load_started_at = load.started_at
        _wait_first_request(load)
        _sleep_while_running(load, load.spec.warmup_s + spec.baseline_s)
        progress(f"{fault.name}: inject")
        out.injected_at = time.time()
        try:
            fault.inject(ctx)
            _sleep_while_running(load, hold)
        finally:
            progress(f"{fault.name}: clear")
            out.cleared_at = time.time()
            fault.clear(ctx)
        progress(f"{fault.name}: settle")
        fault.settle(ctx)
        out.settled_at = time.time()
        _sleep_while_running(load, spec.tail_s)
    except Exception as exc:
        out.error = f"{type(exc).__name__}: {exc}"
        progress(f"{fault.name}: {out.error}")
    finally:
        if load is not None:
            load.stop()
            result = load.wait()
        if armed:
            progress("disarming the fault proxy")
            placement.disarm(settings, layout, progress)
    if not out.settled_at:
        out.settled_at = time.time()
    if result is not None:
        if out.injected_at:
            _costs(out, result)
        progress(f"{fault.name}: checking the invariants")
        checks: Sequence[Check] = check_all(
            settings, result.ack_paths, since=out.load_started_at, until=time.time()
        )
        out.invariants = [c.as_dict() for c in checks]
    return out


def run_matrix(
    faults: Mapping[str, Fault],
    names: Sequence[str],
    settings: Settings,
    layout: Layout,
    spec: RunSpec,
    out_dir: Path,
    progress: Progress,
) -> list[FaultResult]:
    """The named faults one after another; results.json rewritten after each. The faults on
    the proxy's paths run last, under one arming (each arming restarts every API instance)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results: list[FaultResult] = []
    ordered = sorted(names, key=lambda n: faults[n].needs_proxy)
    armed = False
    try:
        for name in ordered:
            fault = faults[name]
            if fault.needs_proxy and not armed:
                progress("arming the fault proxy (the API instances restart one at a time)")
                placement.arm(settings, layout, progress)
                armed = True
            result = run_fault(fault, settings, layout, spec, out_dir, progress, proxy_armed=armed)
            results.append(result)
            write_results(out_dir, spec, results)
    finally:
        if armed:
            progress("disarming the fault proxy")
            placement.disarm(settings, layout, progress)
    return results


def write_results(out_dir: Path, spec: RunSpec, results: Sequence[FaultResult]) -> Path:
    path = out_dir / "results.json"
    body = {
        "spec": asdict(spec),
        "faults": [r.as_dict() for r in results],
        "table": table_rows(results),
    }
    path.write_text(json.dumps(body, indent=2) + "\n")
    (out_dir / "table.txt").write_text(render_table(results))
    return path


TABLE_HEAD = ("fault", "requests", "bad", "budget spent", "recovery s", "settle s", "invariants")


def table_rows(results: Sequence[FaultResult]) -> list[tuple[str, ...]]:
    """One row per fault: the window's requests and bad ones, the budget spent (share of the
    30-day budget and minutes), recovery and settle seconds, and the invariants' verdict."""
    out: list[tuple[str, ...]] = []
    for r in results:
        b, rec = r.budget, r.recovery
        spent = f"{b['share'] * 100:.3f}% ({b['minutes']:.2f} min)" if b else "-"
        recovered = rec.get("recovered_s") if rec else None
        failed = [c["name"] for c in r.invariants if not c["held"]]
        verdict = "held" if r.held else ("FAILED: " + ", ".join(failed) if failed else "unchecked")
        if r.error:
            verdict += f" (fault error: {r.error[:60]})"
        out.append(
            (
                r.fault,
                str(b.get("requests", "-")),
                str(b.get("bad", "-")),
                spent,
                "-" if not rec else "never" if recovered is None else f"{recovered:.1f}",
                f"{rec.get('settle_s', 0):.1f}" if rec else "-",
                verdict,
            )
        )
    return out


def render_table(results: Sequence[FaultResult]) -> str:
    rows = [TABLE_HEAD, *table_rows(results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(TABLE_HEAD))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines) + "\n"
