"""`sichrplace bench soak`: the mixed load held for a long time (30 minutes by default) while
the sampler records every process's memory and open files, the connections, the job queues
and the API's p95; then the slope check per series over the steady part, the results JSON and
a CSV of the series under bench/results/, and a verdict that fails on a leak.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sichrplace.bench.mixed.bench import WORK_ROOT
from sichrplace.bench.runner import code_version
from sichrplace.bench.sampler import Sample, Sampler
from sichrplace.bench.soak_check import Bounds, Limits, Point, Verdict, check_all, kind_of
from sichrplace.config import PROJECT_ROOT, Settings

if TYPE_CHECKING:
    from sichrplace.bench.mixed.run import MixedLoad, MixedResult, Second

Progress = Callable[[str], None]
# Series whose absence from a sample means zero (a queue with no todo job is not listed).
ZERO_WHEN_ABSENT = ("queue",)
# The series shown in the progress line every minute.
HEADLINE = ("mem_mb/api-1", "mem_mb/worker-1", "conn/pg.total", "latency/api.p95_ms")


@dataclass
class SoakConfig:
    duration_s: float = 1800.0
    rate: float = 70.0  # requests per second of the whole mix: bench mixed's stated rate
    interval_s: float = 10.0
    warmup_s: float = 300.0  # left out of the slope check at least
    horizon_h: float = 24.0
    results_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "bench" / "results")

    def effective_warmup_s(self) -> float:
        """The slope check judges the second half of the run (the warm-up at least): a bounded
        cache fills for a while and then stays, a leak keeps growing to the end. The first
        30-minute soak (20261207T035647Z) showed why: an API instance's memory rose 418 MB/h
        from minute 5 to 15 while its near cache filled to its cap, then -12 MB/h to the end;
        judged from minute 5 that read as a leak (docs/performance.md, "The soak")."""
        return max(min(self.warmup_s, self.duration_s / 3), self.duration_s / 2)


def rejudge(path: Path, cfg: SoakConfig) -> list[Verdict]:
    """The verdicts of a recorded soak (its results JSON) under `cfg`'s steady part."""
    data = json.loads(path.read_text())
    bounds = Bounds(warmup_s=cfg.effective_warmup_s(), horizon_h=cfg.horizon_h)
    series = {
        name: [(float(t), float(v)) for t, v in points] for name, points in data["series"].items()
    }
    return check_all(
        series,
        since=float(data["load_started_at"]) + bounds.warmup_s,
        bounds=bounds,
        limits=Limits(**data["limits"]),
    )


def series_of(samples: Sequence[Sample]) -> dict[str, list[Point]]:
    """Samples -> `(t, value)` points per series (a queue missing from a sample is at 0)."""
    names = sorted({name for s in samples for name in s.values})
    out: dict[str, list[Point]] = {name: [] for name in names}
    for sample in samples:
        for name in names:
            if name in sample.values:
                out[name].append((sample.t, float(sample.values[name])))
            elif kind_of(name) in ZERO_WHEN_ABSENT:
                out[name].append((sample.t, 0.0))
    return out


def pids_of(samples: Sequence[Sample]) -> dict[str, list[tuple[float, int | None]]]:
    """Per subject, its main pid at each sample (None where it was not running)."""
    subjects = sorted({name for s in samples for name in s.pids})
    return {name: [(s.t, s.pids.get(name)) for s in samples] for name in subjects}


def write_csv(path: Path, samples: Sequence[Sample], started_at: float) -> None:
    """One row per sample: its time, seconds since the load began, then every series."""
    names = sorted({name for s in samples for name in s.values})
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["t", "elapsed_s", *names])
        for s in samples:
            cells = ["" if n not in s.values else f"{s.values[n]:g}" for n in names]
            writer.writerow([f"{s.t:.3f}", f"{s.t - started_at:.1f}", *cells])


def table(verdicts: Sequence[Verdict]) -> str:
    """Per series: first and last steady value, slope and bound per hour, capacity, verdict."""
    head = (
        f"{'series':44s} {'n':>4s} {'start':>9s} {'end':>9s} {'slope/h':>9s} {'bound/h':>9s}"
        f" {'cap':>7s}  verdict"
    )
    lines = [head, "-" * len(head)]

    def num(value: float | None) -> str:
        return "" if value is None else f"{value:.1f}"

    for v in sorted(verdicts, key=lambda v: (v.ok, v.series)):
        mark = "ok" if v.ok else "LEAK"
        lines.append(
            f"{v.series:44s} {v.n:4d} {num(v.start):>9s} {num(v.end):>9s}"
            f" {num(v.slope_per_h):>9s} {num(v.bound_per_h):>9s} {num(v.cap):>7s}"
            f"  {mark}: {v.reason}"
        )
    return "\n".join(lines)


def summary(report: dict[str, Any], path: Path) -> str:
    """What the command prints at the end: the table, the load's totals, where the files are."""
    verdicts = [Verdict(**v) for v in report["verdicts"]]
    load = report["load"] or {}
    return (
        f"\n{table(verdicts)}\n\n{report['samples']} samples; the load: "
        f"{load.get('achieved_rps', 0)} requests/s, {load.get('status_5xx', 0)} 5xx,"
        f" {load.get('no_answer', 0)} unanswered,"
        f" {load.get('failures', 0)} failures; leaks: {', '.join(report['leaks']) or 'none'}"
        + "".join(f"\nNOT A SOAK: {problem}" for problem in report["load_problems"])
        + f"\nresults: {path}\nseries:  {report['csv']}"
    )


def _headline(sample: Sample, started_at: float) -> str:
    shown = "  ".join(
        f"{name.split('/', 1)[1]} {sample.values[name]:g}"
        for name in HEADLINE
        if name in sample.values
    )
    return f"  {sample.t - started_at:6.0f} s  {shown}"


def _load_summary(result: MixedResult) -> dict[str, Any]:
    """The mixed load's own figures: per endpoint, the rate reached, its 5xx and failures."""
    return {
        "endpoints": {name: m.as_dict() for name, m in result.endpoints.items()},
        "groups": {name: m.as_dict() for name, m in result.groups.items()},
        "achieved_rps": result.total_rate(),
        "status_5xx": result.total_5xx(),
        "no_answer": result.total_no_answer(),
        "failures": sum(s.failures for s in result.timeline),
        "users": result.users,
        "returncode": result.returncode,
        "stderr_tail": result.stderr_tail[-500:],
    }


def load_problems(cfg: SoakConfig, result: MixedResult | None) -> list[str]:
    """Why the run was no soak, if it was not: a flat series under no load proves nothing."""
    if result is None:
        return ["no load result"]
    out = []
    if result.returncode != 0:
        out.append(f"Locust exited with {result.returncode}")
    if result.total_rate() < cfg.rate / 2:
        out.append(f"the load reached {result.total_rate()} of {cfg.rate:g} requests/s")
    return out


def timeline_series(timeline: Sequence[Second], interval_s: float) -> dict[str, list[Point]]:
    """The load's own view per sampling interval, from its per-second timeline: requests per
    second, failures and 5xx (recorded), and the median of the seconds' p95 (judged beside
    the API's: what the clients saw, nginx included; a median because per-second p95s of a
    few dozen requests jump, and percentiles of seconds cannot be merged into one)."""
    buckets: dict[int, list[Second]] = {}
    for second in timeline:
        buckets.setdefault(int(second.t // interval_s), []).append(second)
    out: dict[str, list[Point]] = {
        "rps/load": [],
        "errors/load.failures": [],
        "errors/load.5xx": [],
        "latency/load.p95_ms": [],
    }
    for key in sorted(buckets):
        seconds = buckets[key]
        t = (key + 1) * interval_s  # the interval's end, as a sample's time is
        out["rps/load"].append((t, sum(s.requests for s in seconds) / len(seconds)))
        out["errors/load.failures"].append((t, float(sum(s.failures for s in seconds))))
        out["errors/load.5xx"].append((t, float(sum(s.status_5xx for s in seconds))))
        busy = [s.p95_ms for s in seconds if s.requests]
        if busy:
            out["latency/load.p95_ms"].append((t, statistics.median(busy)))
    return out


def run(cfg: SoakConfig, settings: Settings, progress: Progress) -> tuple[dict[str, Any], Path]:
    """Start the sampler, then the mixed load; sample until the load ends (or Ctrl-C ends it
    early); judge the series; write the results JSON and the series' CSV."""
    from sichrplace.bench.mixed.run import LoadSpec, start_load  # Locust and numpy: load late

    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    cfg.results_dir.mkdir(parents=True, exist_ok=True)
    sampler = Sampler(settings, cfg.interval_s, log=progress)
    limits = sampler.read_limits()
    progress(f"capacities: {dataclasses.asdict(limits)}")
    sampler.start()  # from before the load: the samples show the stack at rest too
    try:
        load = start_load(
            settings,
            LoadSpec(rate=cfg.rate, duration_s=cfg.duration_s),
            WORK_ROOT / f"{stamp}-soak-load",
            progress,
        )
    except BaseException:
        sampler.stop()
        raise
    progress(f"mixed load at {cfg.rate:g} requests/s for {cfg.duration_s:g} s")
    interrupted = False
    try:
        _follow(load, sampler, progress)
    except KeyboardInterrupt:
        interrupted = True
        progress("interrupted: stopping the load, judging what was sampled")
        load.stop()
    finally:
        sampler.stop()
    result = load.wait()
    return report(cfg, settings, sampler.samples, limits, load.started_at, result,
                  started=started, interrupted=interrupted)  # fmt: skip


def _follow(load: MixedLoad, sampler: Sampler, progress: Progress) -> None:
    """Until the load ends: a line of headline figures every minute."""
    minute = 0
    while load.running():
        time.sleep(1)
        now = int((time.time() - load.started_at) // 60)
        if now > minute and sampler.samples:
            minute = now
            progress(_headline(sampler.samples[-1], load.started_at))


def report(
    cfg: SoakConfig,
    settings: Settings,
    samples: Sequence[Sample],
    limits: Limits,
    load_started_at: float,
    result: MixedResult | None,
    *,
    started: datetime,
    interrupted: bool = False,
) -> tuple[dict[str, Any], Path]:
    """The slope check over the samples, and the results written (JSON and CSV)."""
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    bounds = Bounds(warmup_s=cfg.effective_warmup_s(), horizon_h=cfg.horizon_h)
    since = load_started_at + bounds.warmup_s
    series = series_of(samples)
    if result is not None:
        series.update(timeline_series(result.timeline, cfg.interval_s))
    verdicts = check_all(series, since=since, bounds=bounds, limits=limits, pids=pids_of(samples))
    problems = load_problems(cfg, result)
    csv_path = cfg.results_dir / f"{stamp}-soak.csv"
    write_csv(csv_path, samples, load_started_at)
    out: dict[str, Any] = {
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "git_sha": code_version(settings),
        "config": {
            "duration_s": cfg.duration_s,
            "rate": cfg.rate,
            "interval_s": cfg.interval_s,
            "warmup_s": bounds.warmup_s,
            "horizon_h": bounds.horizon_h,
            "api_instances": settings.stack.api_instances,
            "workers": settings.stack.workers,
            "interrupted": interrupted,
        },
        "load_started_at": load_started_at,
        "steady_from": since,
        "load": _load_summary(result) if result is not None else None,
        "limits": dataclasses.asdict(limits),
        "relative_bounds": {
            k: {"floor_per_h": f, "fraction_per_h": r} for k, (f, r) in bounds.relative.items()
        },
        "verdicts": [v.as_dict() for v in verdicts],
        "passed": all(v.ok for v in verdicts) and not problems,
        "leaks": [v.series for v in verdicts if not v.ok],
        "load_problems": problems,
        "samples": len(samples),
        "sampler_errors": [(s.t, e) for s in samples for e in s.errors],
        "csv": str(csv_path),
        "series": series,
    }
    path = cfg.results_dir / f"{stamp}-soak.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    return out, path
