"""`sichrplace bench mixed`: the mixed load at a stated rate through nginx, judged against the
targets of issue 20, with the ceilings of the same run.

A run: the ceilings (wrk on /healthz; the visitors' part of the mix with no think time, which
is the stack's capacity for browsing), then the mix at the stated rate. The report is the
median of the runs per operation; 5xx and unanswered requests add up over all runs and must
be zero.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from sichrplace.bench import judging
from sichrplace.bench.load import Measurement, run_wrk
from sichrplace.bench.mixed import cpu
from sichrplace.bench.mixed.ops import GROUPS
from sichrplace.bench.mixed.run import LoadSpec, MixedResult, Progress, start_load
from sichrplace.bench.runner import code_version, median_of
from sichrplace.config import PROJECT_ROOT, Settings

# operation -> (its ceiling, p95 target in ms): issue 20's acceptance.
TARGETS: dict[str, tuple[str, float]] = {
    "search": ("browse_capacity", 100.0),
    "booking": ("healthz", 150.0),
    "intent": ("healthz", 150.0),
    "message_send": ("healthz", 50.0),
}
CHECKS = ("status_5xx", "no_answer")
CEILINGS = ("healthz", "browse_capacity")
# The runs' own files (plans, Locust's logs, request and ack logs: megabytes) stay out of git.
WORK_ROOT = PROJECT_ROOT / "build" / "bench"
CAPACITY_USERS = 32  # visitors without think time: the browse ceiling's concurrency


@dataclass
class MixedBenchConfig:
    rate: float = 80.0  # requests per second of the whole mix
    runs: int = 3
    duration_s: float = 60.0
    warmup_s: float = 10.0
    ceiling_s: float = 10.0
    listings: int = 1_000_000
    results_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "bench" / "results")


def listings_count(settings: Settings) -> int:
    with psycopg.connect(settings.db.direct_dsn) as conn:
        # The data set's size as `bench search` counts it: every listing, whatever its status.
        row = conn.execute("SELECT count(*) FROM listings").fetchone()
    return int(row[0]) if row else 0


def browse_capacity(settings: Settings, cfg: MixedBenchConfig, out: Path) -> Measurement:
    """The visitors' mix as fast as the stack answers it (closed, no think time)."""
    spec = LoadSpec(
        rate=1.0,
        duration_s=cfg.ceiling_s,
        warmup_s=3.0,
        listeners=0,
        only=("Visitor",),
        closed=True,
        users=(("Visitor", CAPACITY_USERS),),
    )
    return start_load(settings, spec, out).wait().groups["browse"]


def one_run(
    settings: Settings, cfg: MixedBenchConfig, out: Path, progress: Progress
) -> tuple[dict[str, Measurement], dict[str, int], dict[str, Any]]:
    base = f"http://127.0.0.1:{settings.stack.nginx_port}"
    healthz = run_wrk(base, ["/healthz"], concurrency=CAPACITY_USERS, duration_s=cfg.ceiling_s)
    capacity = browse_capacity(settings, cfg, out / "capacity")
    progress(f"ceilings: healthz {healthz.rps:.0f} rps, browse {capacity.rps:.0f} rps")
    spec = LoadSpec(rate=cfg.rate, duration_s=cfg.duration_s, warmup_s=cfg.warmup_s)
    load = start_load(settings, spec, out / "mixed", progress)
    # CPU per component over the measured part (after the warm-up, before the end).
    time.sleep(cfg.warmup_s + 3)
    before, counted = cpu.snapshot(), cpu.counters(settings)
    time.sleep(max(1.0, cfg.duration_s - 6))
    used = cpu.spent(before, cpu.snapshot())
    work = {k: v - counted[k] for k, v in cpu.counters(settings).items()}
    result = load.wait()
    figures = {**result.endpoints, **result.groups, "healthz": healthz}
    figures["browse_capacity"] = capacity
    checks = checks_of(result)
    info = {
        "achieved_rps": result.total_rate(),
        "target_rps": cfg.rate,
        "users": result.users,
        "locust_returncode": result.returncode,
        "status_5xx": result.status_5xx,
        # CPU ms per request to our API, per component (the capacity model's input).
        "cpu_ms_per_request": {
            k: round(v * 1000 / max(1.0, result.total_rate() * used["wall"]), 3)
            for k, v in used.items()
            if k != "wall"
        },
        # Server-side work per request to our API (the capacity model's other input).
        "per_request": {
            k: round(v / max(1.0, result.total_rate() * used["wall"]), 3) for k, v in work.items()
        },
        "cpu_busy_share": round(
            sum(v for k, v in used.items() if k != "wall") / (used["wall"] * cpu.cores()), 3
        ),
    }
    progress(
        f"mixed: {info['achieved_rps']} rps of {cfg.rate}; "
        + ", ".join(f"{op} p95 {figures[op].p95_ms:.0f} ms" for op in TARGETS if op in figures)
    )
    return figures, checks, info


def checks_of(result: MixedResult) -> dict[str, int]:
    """What must count zero: server errors, and requests that got no answer at all."""
    return {"status_5xx": result.total_5xx(), "no_answer": result.total_no_answer()}


def run(
    settings: Settings, cfg: MixedBenchConfig, progress: Progress
) -> tuple[dict[str, Any], Path]:
    have = listings_count(settings)
    if have < cfg.listings:
        raise RuntimeError(
            f"{have} listings, the run wants {cfg.listings}: "
            f"`sichrplace seed listings --count {cfg.listings}` (or --listings {have})"
        )
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    work = WORK_ROOT / f"{stamp}-mixed"
    runs: list[dict[str, Measurement]] = []
    checks: dict[str, int] = dict.fromkeys(CHECKS, 0)
    infos: list[dict[str, Any]] = []
    for i in range(cfg.runs):
        progress(f"run {i + 1}/{cfg.runs}")
        figures, found, info = one_run(settings, cfg, work / f"run{i + 1}", progress)
        runs.append(figures)
        infos.append(info)
        for k, v in found.items():
            checks[k] += v
    names = [n for n in runs[0] if all(n in r for r in runs)]
    median = median_of([{n: r[n] for n in names} for r in runs])
    requests = {n: sum(r[n].requests for r in runs) for n in names}
    verdict = judging.verdicts(median, checks, requests, targets=TARGETS, check_names=CHECKS)
    report = {
        "benchmark": "mixed",
        "started": started.isoformat(),
        "code": code_version(settings),
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
        "listings": have,
        "achieved_rps": statistics.median(i["achieved_rps"] for i in infos),
        "median": median,
        "verdict": verdict,
        "runs": infos,
        "groups": list(GROUPS),
    }
    cfg.results_dir.mkdir(parents=True, exist_ok=True)
    out = cfg.results_dir / f"{stamp}-mixed.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    return report, out


def table(report: dict[str, Any]) -> str:
    median, verdict = report["median"], report["verdict"]
    ops = [n for n in median if n not in CEILINGS and n not in GROUPS and n != "ours"]
    body = judging.table(
        median,
        verdict,
        ops=[*ops, "ours", *GROUPS],
        ceilings=CEILINGS,
        rate="rps",
        width=22,
        checked_over="runs",
    )
    stated = report["config"]["rate"]
    return f"{body}\nachieved {report['achieved_rps']} rps of the mix (stated {stated})"
