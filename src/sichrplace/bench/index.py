"""`sichrplace bench index`: the in-process index (search/index/) at a given size, without a
database: build time, memory per listing, per changed listing and after a reload, and the
latency of counts and pages with the longest step each holds the event loop (ADR 0005). The
listings are synthetic (bench/synthetic.py)."""

from __future__ import annotations

import ctypes
import gc
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from sichrplace.bench.synthetic import change_bytes, generate, synthetic_changes, text_pool
from sichrplace.config import PROJECT_ROOT
from sichrplace.search.index import query
from sichrplace.search.index.errors import Unsupported
from sichrplace.search.index.layout import RECORD
from sichrplace.search.index.snapshot import Change, Group, Snapshot, build_base, with_changes
from sichrplace.search.params import filter_params, to_filters
from sichrplace.search.schemas import SearchFilters

Echo = Callable[[str], None]
WORD = "balkon"  # the full-text word of the text filter sets
WORD_SHARE = 0.3  # share of base listings given its synthetic posting
PAGE_WANT = 21  # a page of 20 and one more (the keeper asks for limit + 1)


@dataclass(frozen=True)
class IndexBenchConfig:
    listings: int = 1_000_000
    runs: int = 5
    changes: int = 50_000
    repeats: int = 50
    reloads: int = 3
    seed: int = 1
    app_baseline: bool = True  # measure `python -c "import sichrplace.app"` in a child
    results_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "bench" / "results")


@dataclass(frozen=True)
class FilterSet:
    name: str
    params: dict[str, Any]
    lexemes: tuple[str, ...] = ()


FILTER_SETS: tuple[FilterSet, ...] = (
    FilterSet("berlin", {"city": "Berlin"}),
    FilterSet("berlin_rent_rooms", {"city": "Berlin", "max_rent": 120_000, "min_rooms": 2}),
    FilterSet("small_city", {"city": "Gießen"}),
    FilterSet("germany", {}),
    FilterSet("germany_rent_amenity", {"max_rent": 100_000, "amenities": "balcony"}),
    # The point moves by up to ~1 km per repetition (users' points differ; see _filters).
    FilterSet("berlin_radius_3km", {"lat": 52.52, "lng": 13.405, "radius_km": 3}),
    FilterSet("map_box", {"bbox": "13.35,52.49,13.45,52.55"}),  # ~7 x 7 km of Berlin
    FilterSet("text_germany", {"q": WORD}, (WORD,)),
    FilterSet("text_berlin_rent", {"city": "Berlin", "q": WORD, "max_rent": 150_000}, (WORD,)),
)
OPERATIONS = ("count", "page_newest", "page_rent_asc")


# --- measuring the process -------------------------------------------------------------


def rss() -> int:
    """This process's resident memory in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def reset_peak() -> bool:
    """Reset the kernel's peak RSS (VmHWM) of this process; False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def peak_rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def malloc_trim() -> bool:
    """glibc's malloc_trim(0): give the allocator's free memory back to the system."""
    try:
        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0))
    except (OSError, AttributeError):
        return False


def app_import_rss() -> int | None:
    """RSS of an idle Python that imported the application (the API process's baseline)."""
    code = "import sichrplace.app; print(open('/proc/self/status').read())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    found = re.search(r"^VmRSS:\s+(\d+) kB", done.stdout, re.MULTILINE)
    return int(found.group(1)) * 1024 if found else None


def machine() -> dict[str, Any]:
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        total_kb = int(f.readline().split()[1])
    env = {k: v for k, v in os.environ.items() if k.startswith(("MALLOC_", "GLIBC_TUNABLES"))}
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "mem_total_bytes": total_kb * 1024,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "kernel": platform.release(),
        "malloc_env": env,
    }


def _git_sha() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), *args], capture_output=True, text=True, check=False
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    sha = git("rev-parse", "--short=12", "HEAD")
    return (sha + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")) or (
        "unknown"
    )


@dataclass
class Timing:
    """One (filter set, operation)'s calls: wall and CPU seconds, the longest step's."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    longest: list[float] = field(default_factory=list)
    longest_cpu: list[float] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    matches: list[int] = field(default_factory=list)
    unsupported: int = 0


@dataclass(frozen=True)
class Driven:
    value: Any
    wall: float
    cpu: float
    longest: float
    longest_cpu: float
    steps: int


def drive(steps: query.Steps[Any]) -> Driven:
    """Drive `steps` as the keeper does (next() until StopIteration: each next() is how long
    the event loop is held), timing every step in wall and thread CPU seconds."""
    wall = cpu = longest = longest_cpu = 0.0
    count = 0
    while True:
        t0, c0 = time.perf_counter(), time.thread_time()
        done: StopIteration | None = None
        try:
            next(steps)
        except StopIteration as stop:
            done = stop
        dt, dc = time.perf_counter() - t0, time.thread_time() - c0
        wall, cpu, count = wall + dt, cpu + dc, count + 1
        longest, longest_cpu = max(longest, dt), max(longest_cpu, dc)
        if done is not None:
            return Driven(done.value, wall, cpu, longest, longest_cpu, count)


def filters_of(fs: FilterSet, rep: int) -> SearchFilters:
    """The filter set as a client sends it; a point moves by up to ~1 km per repetition."""
    params = dict(fs.params)
    if "lat" in params:
        jitter = np.random.default_rng(rep)
        params["lat"] += float(jitter.uniform(-0.009, 0.009))
        params["lng"] += float(jitter.uniform(-0.013, 0.013))
    return to_filters(filter_params(params))


def operation(
    snap: Snapshot, f: SearchFilters, op: str, fs: FilterSet, posting: np.ndarray
) -> query.Steps[Any]:
    postings = [posting] if fs.lexemes else []
    if op == "count":
        return query.count(snap, f, fs.lexemes, postings)
    sort = "newest" if op == "page_newest" else "rent_asc"
    return query.page(snap, f, sort, None, PAGE_WANT, fs.lexemes, postings)


def matches_of(op: str, value: Any) -> int:
    """A count's total (its city facet's sum), a page's number of hits."""
    if op == "count":
        return sum(row.n for row in value if row.facet == "city")
    return len(value)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def summary(t: Timing) -> dict[str, Any]:
    if not t.wall:
        return {"calls": 0, "unsupported": t.unsupported}
    return {
        "calls": len(t.wall),
        "unsupported": t.unsupported,
        "median_ms": _ms(statistics.median(t.wall)),
        "p95_ms": _ms(float(np.percentile(t.wall, 95))),
        "cpu_median_ms": _ms(statistics.median(t.cpu)),
        "steps": int(statistics.median(t.steps)),
        "longest_step_median_ms": _ms(statistics.median(t.longest)),
        "longest_step_max_ms": _ms(max(t.longest)),
        "longest_step_cpu_max_ms": _ms(max(t.longest_cpu)),
        "matches": int(statistics.median(t.matches)),
    }


def measure_queries(
    snap: Snapshot, posting: np.ndarray, repeats: int, echo: Echo
) -> list[dict[str, Any]]:
    """Every filter set and operation `repeats` times, taking turns (a server interleaves
    requests too), after one unrecorded round."""
    filters = {fs.name: [filters_of(fs, rep) for rep in range(repeats + 1)] for fs in FILTER_SETS}
    timings = {(fs.name, op): Timing() for fs in FILTER_SETS for op in OPERATIONS}
    for rep in range(repeats + 1):
        for fs in FILTER_SETS:
            for op in OPERATIONS:
                t = timings[fs.name, op]
                try:
                    driven = drive(operation(snap, filters[fs.name][rep], op, fs, posting))
                except Unsupported:
                    t.unsupported += rep > 0
                    continue
                if rep == 0:
                    continue
                t.wall.append(driven.wall)
                t.cpu.append(driven.cpu)
                t.longest.append(driven.longest)
                t.longest_cpu.append(driven.longest_cpu)
                t.steps.append(driven.steps)
                t.matches.append(matches_of(op, driven.value))
        if rep and rep % 10 == 0:
            echo(f"  queries: {rep}/{repeats} rounds")
    return [
        {
            "filter_set": fs.name,
            "params": fs.params,
            "operation": op,
            **summary(timings[fs.name, op]),
        }
        for fs in FILTER_SETS
        for op in OPERATIONS
    ]


# --- the run ---------------------------------------------------------------------------


class Worker:
    """The keeper builds snapshots in a worker thread (asyncio.to_thread): so does the
    benchmark, since glibc gives each thread its own malloc arena."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="index-build")
        self.builds: list[dict[str, float]] = []

    def build(self, groups: list[Group]) -> tuple[Snapshot, int | None]:
        """build_base, timed (wall, and the process's CPU), and the peak RSS during it."""
        can_peak = reset_peak()
        w0, c0 = time.perf_counter(), time.process_time()
        snap = self._pool.submit(build_base, groups, {WORD: WORD_SHARE}).result()
        self.builds.append(
            {
                "wall_s": round(time.perf_counter() - w0, 3),
                "cpu_s": round(time.process_time() - c0, 3),
                "load1": os.getloadavg()[0],
            }
        )
        return snap, peak_rss() if can_peak else None

    def with_changes(self, snap: Snapshot, changes: dict[bytes, Change]) -> Snapshot:
        return self._pool.submit(with_changes, snap, changes).result()

    def timed(self, snap: Snapshot, changes: dict[bytes, Change], runs: int) -> list[float]:
        out = []
        for _ in range(runs):
            t0 = time.perf_counter()
            self.with_changes(snap, changes)
            out.append(round(time.perf_counter() - t0, 4))
        return out

    def close(self) -> None:
        self._pool.shutdown()


def measure(cfg: IndexBenchConfig, echo: Echo) -> dict[str, Any]:
    """The figures of one run (module docstring); `echo` reports progress."""
    started = datetime.now(UTC)
    n, k = cfg.listings, min(cfg.changes, cfg.listings)
    load: dict[str, list[float]] = {"start": list(os.getloadavg())}
    pool = text_pool(min(max(n, 2_000), 20_000), cfg.seed)
    app_rss = app_import_rss() if cfg.app_baseline else None
    worker = Worker()
    gc.collect()
    rss_start = rss()

    # A process's first load: the read (here: generated), the build, the read let go.
    echo(f"generating {n:,} listings")
    t0 = time.perf_counter()
    groups = generate(n, cfg.seed, pool)
    generate_s = time.perf_counter() - t0
    rss_generated = rss()
    title_bytes = sum(len(g[3]) for g in groups)
    read_bytes = sum(len(g[2]) + len(g[3]) + len(g[4]) for g in groups)
    group_count = len(groups)
    echo(f"  {generate_s:.1f} s, {group_count} groups; building")
    snap, peak_first = worker.build(groups)
    rss_built = rss()
    del groups
    rss_loaded = rss()
    nbytes = snap.nbytes()
    load["after_build"] = list(os.getloadavg())
    echo(f"  built in {worker.builds[0]['wall_s']} s, {nbytes / n:.0f} B/listing")

    # Changes as the keeper holds them: its dict of Change objects and the snapshot made
    # from it (a new one at each look, from all the changes since the load).
    changes_out: dict[str, Any] = {"changes": k}
    echo(f"{k:,} changes")
    gc.collect()
    before = rss()
    changes = synthetic_changes(snap, k, cfg.seed + 1, pool)
    held = rss()
    answering = worker.with_changes(snap, changes)
    rss_changed = rss()
    if k:
        times = worker.timed(snap, changes, cfg.runs)
        few = dict(list(changes.items())[: min(1_000, k)])
        few_times = worker.timed(snap, few, cfg.runs)
        changes_out |= {
            "rss_before": before,
            "rss_objects_bytes": held - before,
            "rss_segment_bytes": rss_changed - held,
            "bytes_per_change": round((rss_changed - before) / k),
            "objects_bytes_per_change": round((held - before) / k),
            # The same without the allocator: each Change's objects, and its dict entry.
            "deep_bytes_per_change": round(
                (sum(change_bytes(i, c) for i, c in changes.items()) + sys.getsizeof(changes)) / k
            ),
            "segment_nbytes": answering.nbytes() - nbytes,
            "lexemes_per_change": round(
                statistics.mean(len(c.lexemes) for c in changes.values()), 1
            ),
            "with_changes_s": times,
            "with_changes_median_s": statistics.median(times),
            "with_changes_1000_s": few_times,
            "with_changes_1000_median_s": statistics.median(few_times),
            "rss_after": rss_changed,
        }
        del few

    # Reloads: each new snapshot is read and built while the old one (with its changes)
    # keeps answering, then the old one is let go and the new one follows changes.
    cycles: list[dict[str, Any]] = []
    for cycle in range(cfg.reloads):
        echo(f"reload {cycle + 1}/{cfg.reloads}")
        gc.collect()
        before = rss()
        groups = generate(n, cfg.seed + 10 + cycle, pool)
        reread = rss()
        fresh, peak = worker.build(groups)
        del groups
        both = rss()
        del snap, answering, changes
        dropped = rss()
        gc.collect()
        collected = rss()
        snap = fresh
        del fresh
        changes = synthetic_changes(snap, k, cfg.seed + 20 + cycle, pool)
        answering = worker.with_changes(snap, changes)
        cycles.append(
            {
                "rss_before": before,
                "rss_reread": reread,
                "rss_peak": peak,
                "rss_both": both,
                "rss_old_dropped": dropped,
                "rss_after_gc": collected,
                "rss_with_changes": rss(),
            }
        )
    trimmed = malloc_trim()
    rss_trim = rss()
    load["after_reloads"] = list(os.getloadavg())

    if len(worker.builds) < cfg.runs:
        echo(f"{cfg.runs - len(worker.builds)} more builds")
        groups = generate(n, cfg.seed + 2, pool)
        while len(worker.builds) < cfg.runs:
            worker.build(groups)
        del groups
        gc.collect()
    load["after_builds"] = list(os.getloadavg())
    worker.close()

    echo(f"queries: {len(FILTER_SETS)} filter sets x {len(OPERATIONS)}, {cfg.repeats} rounds")
    posting = np.random.default_rng(cfg.seed).random(len(answering.base)) < WORD_SHARE
    queries = measure_queries(answering, posting, cfg.repeats, echo)
    load["end"] = list(os.getloadavg())

    walls = [b["wall_s"] for b in worker.builds]
    cpus = [b["cpu_s"] for b in worker.builds]
    return {
        "kind": "index",
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "git_sha": _git_sha(),
        "config": {
            "listings": n,
            "runs": cfg.runs,
            "changes": k,
            "reloads": cfg.reloads,
            "repeats": cfg.repeats,
            "seed": cfg.seed,
            "step_rows": query.STEP_ROWS,
            "page_want": PAGE_WANT,
            "word_share": WORD_SHARE,
        },
        "machine": machine(),
        "load_avg": load,
        "data": {
            "generate_s": round(generate_s, 2),
            "groups": group_count,
            "record_bytes": RECORD.itemsize,
            "mean_title_bytes": round(title_bytes / n, 1),
            "read_bytes": read_bytes,
        },
        "build": {
            "runs": worker.builds,
            "wall_median_s": statistics.median(walls),
            "cpu_median_s": statistics.median(cpus),
        },
        "memory": {
            "app_import_rss": app_rss,
            "rss_start": rss_start,
            "rss_generated": rss_generated,
            "rss_peak_first_build": peak_first,
            "rss_built": rss_built,
            "rss_loaded": rss_loaded,
            "snapshot_nbytes": nbytes,
            "nbytes_per_listing": round(nbytes / n, 1),
            "rss_per_listing": round((rss_loaded - rss_start) / n, 1),
        },
        "changes": changes_out,
        "reload": {
            "cycles": cycles,
            "malloc_trim_released": trimmed,
            "rss_after_trim": rss_trim,
            "rss_fresh_loaded": rss_loaded,
            "rss_fresh_with_changes": rss_changed,
        },
        "queries": queries,
    }


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value / 2**20:,.0f} MB"


def table(report: dict[str, Any]) -> str:
    """The report as text."""
    cfg, mem, rel, ch = report["config"], report["memory"], report["reload"], report["changes"]
    build = report["build"]
    loads = ", ".join(f"{k} {v[0]:.1f}" for k, v in report["load_avg"].items())
    lines = [
        f"{cfg['listings']:,} listings, {len(build['runs'])} builds, {cfg['changes']:,} changes, "
        f"{cfg['reloads']} reloads, {cfg['repeats']} rounds of queries",
        f"load average (1 min): {loads}",
        f"build_base          {build['wall_median_s']:.2f} s wall, {build['cpu_median_s']:.2f} s "
        f"CPU (median of {len(build['runs'])}, in a worker thread)",
        f"snapshot nbytes     {_mb(mem['snapshot_nbytes'])} ({mem['nbytes_per_listing']:.0f} "
        f"B/listing); RSS {mem['rss_per_listing']:.0f} B/listing over the start",
        f"RSS                 start {_mb(mem['rss_start'])}, generated "
        f"{_mb(mem['rss_generated'])}, peak in build {_mb(mem['rss_peak_first_build'])}, "
        f"built {_mb(mem['rss_built'])}, loaded {_mb(mem['rss_loaded'])}; "
        f"idle app import {_mb(mem['app_import_rss'])}",
    ]
    if cfg["changes"]:
        lines.append(
            f"changes             {ch['bytes_per_change']:,} B/change RSS "
            f"({ch['objects_bytes_per_change']:,} the Change objects, "
            f"{ch['deep_bytes_per_change']:,} by getsizeof; "
            f"{ch['lexemes_per_change']} lexemes each) -> {_mb(ch['rss_after'])}; with_changes "
            f"{ch['with_changes_median_s'] * 1000:.0f} ms for all, "
            f"{ch['with_changes_1000_median_s'] * 1000:.1f} ms for 1,000"
        )
    for i, c in enumerate(rel["cycles"], 1):
        lines.append(
            f"reload {i}            before {_mb(c['rss_before'])}, peak {_mb(c['rss_peak'])}, "
            f"both {_mb(c['rss_both'])}, old dropped {_mb(c['rss_old_dropped'])}, "
            f"gc {_mb(c['rss_after_gc'])}, with changes {_mb(c['rss_with_changes'])}"
        )
    lines += [
        f"after malloc_trim   {_mb(rel['rss_after_trim'])} (fresh load "
        f"{_mb(rel['rss_fresh_loaded'])}, with changes {_mb(rel['rss_fresh_with_changes'])})",
        "",
        f"{'filter set':22s} {'operation':14s} {'median':>8s} {'p95':>8s} {'cpu':>8s} "
        f"{'steps':>5s} {'step max':>9s} {'(cpu)':>8s} {'matches':>9s}",
    ]
    for q in report["queries"]:
        if not q["calls"]:
            lines.append(f"{q['filter_set']:22s} {q['operation']:14s} unsupported every time")
            continue
        note = f"  ({q['unsupported']} unsupported)" if q["unsupported"] else ""
        lines.append(
            f"{q['filter_set']:22s} {q['operation']:14s} {q['median_ms']:8.2f} {q['p95_ms']:8.2f} "
            f"{q['cpu_median_ms']:8.2f} {q['steps']:5d} {q['longest_step_max_ms']:9.2f} "
            f"{q['longest_step_cpu_max_ms']:8.2f} {q['matches']:9,d}{note}"
        )
    lines.append(
        "(ms; median and p95 of wall time, cpu: median thread CPU; step max: longest "
        "single step over all calls)"
    )
    return "\n".join(lines)


def run(cfg: IndexBenchConfig, echo: Echo) -> tuple[dict[str, Any], Path]:
    report = measure(cfg, echo)
    cfg.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.fromisoformat(report["started_at"]).strftime("%Y%m%dT%H%M%SZ")
    out = cfg.results_dir / f"index-{stamp}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    return report, out
