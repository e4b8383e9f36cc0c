"""The soak's slope check: a least-squares line per sampled series over the steady part of the
run, judged against a bound stated per kind of series (docs/performance.md, "The soak").

Pure functions on `(t, value)` points: no I/O, so they are tested on synthetic series.

Two rules, one per shape of series:

- Sizes (`mem_mb`, `latency`): a trend is allowed up to a *relative* bound,
  `max(floor, fraction x the series' median)` per hour, plus NOISE_SE times the slope's
  standard error (what the run's noise alone can make of a flat series). Memory of a healthy
  process climbs while its caches fill and the allocator's arenas settle, then stays put: the
  warm-up is left out, and what still grows after it by more than a few per cent an hour is
  kept somewhere.
- Counts with a capacity (`fds`, `conn`, `backends`, `queue`): the peak must stay within the
  capacity (the pool size, the file limit, ...), and the fitted growth must not reach the
  capacity within `horizon_h` hours after the run ends ("no growth beyond the pool sizes": a
  pool that leaks a connection a minute is flat for no one), again plus the noise allowance.
  Counts without a known capacity fall back to the relative rule.

The noise allowance: the slope's standard error, widened for the autocorrelation of the
residuals (samples 10 s apart are not independent: a pool's size or a backlog wanders
slowly, and the plain formula would understate the error by a factor of 2-3), times NOISE_SE.
Three, not two: some 50 series are judged per run, and at two standard errors a flat run
would show one false "leak" more often than not (one-sided 2.3% each); at three, ~7% per run
if the errors were independent.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

Point = tuple[float, float]  # (unix time, value)

# Kinds judged by the relative rule: (floor per hour, fraction of the median per hour).
# Memory: 8 MB/h is 1 kB per request at ~2 requests/s left behind, far below any real
# per-request leak at the soak's rates; 5 %/h of a 400 MB API process is 20 MB/h, ~8 MB over
# the 25 steady minutes, above the allocator's wobble. Latency: p95 is coarse (histogram
# buckets) and moves with the other tenants of this 2-core machine: 10 ms/h or 20 %/h.
RELATIVE: dict[str, tuple[float, float]] = {
    "mem_mb": (8.0, 0.05),
    "latency": (10.0, 0.20),
    "fds": (30.0, 0.20),
}
NOISE_SE = 3.0
# Kinds judged against a capacity (falling back to RELATIVE["fds"] without one).
COUNTED = ("fds", "conn", "backends", "queue")
# Recorded for the reader, not judged: process counts, request rates and the load's errors
# (the mixed load judges those), a process group's plain RSS sum and its shared memory (its
# `mem_mb` is its private memory: PSS less shared memory).
RECORDED_ONLY = ("procs", "rps", "rss_mb", "shmem_mb", "errors")


@dataclass(frozen=True)
class Fit:
    """A least-squares line through a series: slope and its standard error per hour."""

    n: int
    slope_per_h: float
    stderr_per_h: float
    first: float  # the line's value at the window's first point
    last: float  # ... and at its last
    median: float
    peak: float


def least_squares(points: Sequence[Point]) -> Fit:
    """The line y = a + b t through `points` (at least 2, distinct times)."""
    n = len(points)
    if n < 2:
        raise ValueError("a slope needs two points at least")
    ts = [p[0] for p in points]
    ys = [p[1] for p in points]
    t_mean, y_mean = sum(ts) / n, sum(ys) / n
    sxx = sum((t - t_mean) ** 2 for t in ts)
    if sxx == 0:
        raise ValueError("a slope needs two distinct times")
    sxy = sum((t - t_mean) * (y - y_mean) for t, y in zip(ts, ys, strict=True))
    slope = sxy / sxx
    intercept = y_mean - slope * t_mean
    residuals = [y - (intercept + slope * t) for t, y in zip(ts, ys, strict=True)]
    # Standard error of the slope: residual variance over the spread of the times, widened
    # by sqrt((1 + rho) / (1 - rho)) for the residuals' lag-1 autocorrelation rho.
    dof = n - 2
    stderr = math.sqrt(sum(r * r for r in residuals) / dof / sxx) if dof > 0 else 0.0
    rho = lag1_autocorrelation(residuals)
    stderr *= math.sqrt((1 + rho) / (1 - rho))
    return Fit(
        n=n,
        slope_per_h=slope * 3600,
        stderr_per_h=stderr * 3600,
        first=intercept + slope * ts[0],
        last=intercept + slope * ts[-1],
        median=statistics.median(ys),
        peak=max(ys),
    )


def lag1_autocorrelation(residuals: Sequence[float]) -> float:
    """The residuals' lag-1 autocorrelation, clamped to [0, 0.9] (a negative one would
    narrow the error; 0.9 caps the widening at a factor of ~4.4)."""
    total = sum(r * r for r in residuals)
    if len(residuals) < 3 or total == 0:
        return 0.0
    lagged = sum(a * b for a, b in itertools.pairwise(residuals))
    return min(0.9, max(0.0, lagged / total))


def steady(points: Sequence[Point], since: float) -> list[Point]:
    """The points at or after `since` (the end of the warm-up)."""
    return [p for p in points if p[0] >= since]


@dataclass(frozen=True)
class Verdict:
    series: str
    kind: str
    ok: bool
    reason: str
    n: int = 0
    start: float | None = None  # first and last sampled value of the steady part
    end: float | None = None
    slope_per_h: float | None = None
    stderr_per_h: float | None = None
    bound_per_h: float | None = None
    cap: float | None = None
    peak: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Bounds:
    """What the check allows: the warm-up left out, the horizon of the capacity rule, the
    least steady points a verdict needs, and the capacities per series (`cap_for`)."""

    warmup_s: float = 300.0
    horizon_h: float = 24.0
    min_points: int = 6
    relative: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(RELATIVE))


def kind_of(series: str) -> str:
    """`mem_mb/api-1` -> `mem_mb`; `latency/api.p95_ms` -> `latency`."""
    return series.split("/", 1)[0]


def judged(series: str) -> bool:
    """Whether the check judges `series` (process counts and request rates are recorded)."""
    return kind_of(series) not in RECORDED_ONLY


@dataclass(frozen=True)
class Limits:
    """The stack's capacities, read when the soak starts (`sampler.read_limits`)."""

    pg_connections: int  # per node: max_connections less the superusers' reserve
    pgbouncer_clients: int  # client connections the API and workers' pools can open
    pgbouncer_servers: int  # server connections per PgBouncer pool (default + reserve)
    redis_clients: int  # connections the processes' Redis pools can open
    queue_doing: int  # jobs the workers run at once
    queue_todo: int  # the backlog allowed per queue (docs/performance.md, "The soak")
    fds: dict[str, int] = field(default_factory=dict)  # per subject: its open-files limit


def cap_for(series: str, limits: Limits) -> float | None:
    """The capacity a counted series is judged against, if it has one."""
    kind, _, subject = series.partition("/")
    if kind == "fds":
        return limits.fds.get(subject)
    if kind == "backends":
        return limits.pg_connections
    if kind == "queue":
        return limits.queue_doing if subject.endswith(".doing") else limits.queue_todo
    if kind != "conn":
        return None
    if subject.startswith("pg."):
        return limits.pg_connections
    if subject.startswith("pgbouncer."):
        if subject.endswith(".servers"):
            return limits.pgbouncer_servers
        return limits.pgbouncer_clients
    if subject.startswith("redis."):
        return limits.redis_clients
    return None


def relative_bound(fit: Fit, floor: float, fraction: float) -> float:
    """The allowed growth per hour: max(floor, fraction x median) plus the noise allowance
    (the slope the run's noise alone makes)."""
    return max(floor, fraction * abs(fit.median)) + NOISE_SE * fit.stderr_per_h


def capacity_bound(fit: Fit, cap: float, horizon_h: float) -> float:
    """The growth per hour that would take the fitted end value to `cap` in `horizon_h` hours,
    plus the noise allowance."""
    return max(0.0, cap - fit.last) / horizon_h + NOISE_SE * fit.stderr_per_h


def check_series(
    series: str, points: Sequence[Point], bounds: Bounds, cap: float | None = None
) -> Verdict:
    """The verdict on one series' steady part (`points` already cut to it)."""
    kind = kind_of(series)
    if len({p[0] for p in points}) < max(2, bounds.min_points):
        reason = f"skipped: {len(points)} steady points"
        return Verdict(series, kind, ok=True, reason=reason, n=len(points))
    fit = least_squares(points)

    def verdict(ok: bool, reason: str, bound: float, cap: float | None = None) -> Verdict:
        return Verdict(
            series, kind, ok, reason, n=fit.n, start=points[0][1], end=points[-1][1],
            slope_per_h=round(fit.slope_per_h, 3), stderr_per_h=round(fit.stderr_per_h, 3),
            bound_per_h=round(bound, 3), cap=cap, peak=fit.peak,
        )  # fmt: skip

    if kind in COUNTED and cap is not None:
        bound = capacity_bound(fit, cap, bounds.horizon_h)
        if fit.peak > cap:
            return verdict(False, f"peak {fit.peak:g} above the capacity {cap:g}", bound, cap)
        if fit.slope_per_h <= bound:
            return verdict(True, "flat within the capacity", bound, cap)
        return verdict(False, f"grows to the capacity {cap:g} within {bounds.horizon_h:g} h",
                       bound, cap)  # fmt: skip
    floor, fraction = bounds.relative.get(kind, bounds.relative["fds"])
    bound = relative_bound(fit, floor, fraction)
    if fit.slope_per_h <= bound:
        return verdict(True, "flat", bound)
    return verdict(False, "grows faster than the bound", bound)


def segment_after_restart(points: Sequence[Point], pids: Sequence[int | None]) -> list[Point]:
    """The points since the subject's main pid last changed (a restarted process starts its
    memory again: only its last life is judged)."""
    start = 0
    for i in range(1, len(pids)):
        if pids[i] != pids[i - 1]:
            start = i
    return list(points[start:])


def check_all(
    series: dict[str, list[Point]],
    *,
    since: float,
    bounds: Bounds,
    limits: Limits | None,
    pids: dict[str, list[tuple[float, int | None]]] | None = None,
) -> list[Verdict]:
    """Every judged series' verdict, its steady part starting at `since` (and, for a process
    that restarted, at its last start). `pids` maps a subject to its main pid per sample."""
    out: list[Verdict] = []
    for name in sorted(series):
        if not judged(name):
            continue
        points = steady(series[name], since)
        subject = name.split("/", 1)[1] if "/" in name else name
        restarted = ""
        if pids and subject in pids:
            by_time = dict(pids[subject])
            cut = segment_after_restart(points, [by_time.get(t) for t, _ in points])
            if len(cut) != len(points):
                restarted = " (restarted: last life only)"
            points = cut
        cap = cap_for(name, limits) if limits is not None else None
        verdict = check_series(name, points, bounds, cap)
        if restarted:
            verdict = Verdict(**{**verdict.as_dict(), "reason": verdict.reason + restarted})
        out.append(verdict)
    return out
