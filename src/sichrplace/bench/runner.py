"""`sichrplace bench search`: data set, warm-up, scenarios through nginx, ceilings, report."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from sichrplace.bench import scenarios
from sichrplace.bench.load import Measurement, run_pgbench, run_wrk
from sichrplace.bench.static import static_server
from sichrplace.config import PROJECT_ROOT, Settings
from sichrplace.search.suggest.service import refresh_after_load
from sichrplace.seeding import loader
from sichrplace.stack import supervisor
from sichrplace.stack.edge import hits as edge_hits
from sichrplace.stack.ha import routing
from sichrplace.stack.layout import layout_for

Progress = Callable[[str], None]

# name -> (ceiling, targets). Targets are the acceptance criteria of issue 3.
SCENARIOS: dict[str, tuple[str, dict[str, float]]] = {
    "healthz": ("static_json", {}),
    "search_cached": ("static_json", {"p95_ms": 25, "min_rps": 1500}),
    "facets_cached": ("static_json", {"p95_ms": 50}),
    "listing_detail": ("static_json", {"p95_ms": 20}),
    "search_uncached": ("pgbench_search", {"p95_ms": 100}),
    "geo_radius": ("pgbench_geo", {"p95_ms": 100}),
    "facets_uncached": ("pgbench_facets", {"p95_ms": 250}),
    "suggest": ("static_json", {"p95_ms": 20}),
}
CEILINGS = ("static_json", "pgbench_search", "pgbench_geo", "pgbench_facets")
# The scenarios measured past every cache (X-Cache-Bypass: 1), the edge's included.
UNCACHED = ("search_uncached", "geo_radius", "facets_uncached")
UNCACHED_MIX = 2000
STATIC_PATH = "/bench-static/search.json"
PGBENCH_SCRIPTS = 60  # distinct SQL scripts per pgbench ceiling (pgbench allows 128)


@dataclass
class BenchConfig:
    listings: int = 1_000_000
    runs: int = 3
    duration_s: float = 20.0
    concurrency: int = 32
    warmup_s: float = 5.0
    base_url: str = "http://127.0.0.1:58080"
    results_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "bench" / "results")
    seed_workers: int = 2
    owners: int = 300
    reseed: bool = False  # delete the seeded listings and seed them again first (a cold run)
    only: tuple[str, ...] = ()  # scenarios to run (their ceilings come along); empty: all
    # Each run twice, the API instances restarted with instrumentation on and then off (or
    # off, then on: the order alternates), and the overhead reported (`run_instrumentation`).
    compare_instrumentation: bool = False

    def scenarios(self) -> list[str]:
        return [name for name in SCENARIOS if not self.only or name in self.only]


@dataclass
class Mix:
    paths: list[str]
    bypass: bool
    sql: list[list[str]] = field(default_factory=list)


def _get(url: str, timeout: float = 10.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - http to the local stack
        body: bytes = resp.read()
        return body


def ensure_dataset(settings: Settings, cfg: BenchConfig, progress: Progress) -> dict[str, Any]:
    """Exactly `cfg.listings` seeded listings (owned by the seed landlords): top up or reseed."""
    dsn = settings.db.direct_dsn
    with psycopg.connect(dsn) as conn:
        conn.execute("SET statement_timeout = 0")
        owners = loader.seed_owner_ids(conn)
        have = 0
        if owners:
            row = conn.execute(
                "SELECT count(*) FROM listings WHERE owner_id = ANY(%s)", [owners]
            ).fetchone()
            have = int(row[0]) if row else 0
        if have > cfg.listings or (cfg.reseed and have):
            progress(f"{have} seeded listings, want {cfg.listings} afresh: deleting them")
            conn.execute("DELETE FROM listings WHERE owner_id = ANY(%s)", [owners])
            conn.commit()
            have = 0
    if have == cfg.listings:
        progress(f"data set ready: {have} seeded listings")
        return {"seeded": 0, "listings": have}
    progress(f"seeding {cfg.listings - have} listings (have {have})")
    report = loader.load(
        dsn,
        count=cfg.listings - have,
        owners=cfg.owners,
        password_hash=loader.unusable_password_hash(settings),
        workers=cfg.seed_workers,
        progress=progress,
    )
    progress(f"seeded in {sum(report.timings.values()):.0f} s: {report.timings}")
    places = asyncio.run(refresh_after_load(settings.db))
    progress(f"{places} places for the search box's suggestions")
    return {"seeded": report.listings, "listings": cfg.listings, "seed_timings": report.timings}


def build_mixes(settings: Settings) -> dict[str, Mix]:
    """Request paths per scenario (and the SQL of the uncached ones, for pgbench)."""
    with psycopg.connect(settings.db.direct_dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT id FROM listings TABLESAMPLE SYSTEM (1) WHERE status = 'active' LIMIT 2000"
        ).fetchall()
        ids = [str(r[0]) for r in rows]
        search = scenarios.uncached_search(UNCACHED_MIX)
        geo = scenarios.geo_radius(UNCACHED_MIX)
        facets = scenarios.uncached_facets(UNCACHED_MIX // 2)
        step = max(1, UNCACHED_MIX // PGBENCH_SCRIPTS)
        plans = scenarios.Plans(conn)
        paths = scenarios.paths
        mixes = {
            "healthz": Mix(["/healthz"], bypass=False),
            "search_cached": Mix(paths(scenarios.popular_search()), False),
            "facets_cached": Mix(paths(scenarios.popular_facets()), False),
            "listing_detail": Mix(paths(scenarios.listing_detail(ids)), False),
            "search_uncached": Mix(
                paths(search),
                True,
                [scenarios.search_sql(r, plans) for r in search[::step]],
            ),
            "geo_radius": Mix(
                paths(geo),
                True,
                [scenarios.search_sql(r, plans) for r in geo[::step]],
            ),
            "facets_uncached": Mix(
                paths(facets),
                True,
                [scenarios.facets_sql(r) for r in facets[:: max(1, step // 2)]],
            ),
            "suggest": Mix(paths(scenarios.suggest(UNCACHED_MIX)), False),
        }
    return mixes


def _replica_port(settings: Settings) -> int:
    """The node the API reads from (PgBouncer's read line), else HAProxy's read endpoint: the
    ceiling runs on the same Postgres as the API's reads, without a proxy in between."""
    return routing.routed_port(layout_for(settings), "ro") or settings.stack.replica_port


def replica_dsn_parts(settings: Settings) -> dict[str, str]:
    db = settings.db
    return {
        "host": db.host,
        "port": str(_replica_port(settings)),
        "user": db.user,
        "password": db.password.get_secret_value(),
        "dbname": db.name,
    }


def one_run(
    cfg: BenchConfig, mixes: dict[str, Mix], settings: Settings, static_body: bytes, log: Progress
) -> dict[str, Measurement]:
    out: dict[str, Measurement] = {}
    selected = cfg.scenarios()
    access_log = layout_for(settings).logs / "nginx-access.log"
    for name in selected:
        mix = mixes[name]
        cpu_before = api_cpu_seconds(settings)
        window = edge_hits.LogWindow(access_log)
        measured = run_wrk(
            cfg.base_url,
            mix.paths,
            concurrency=cfg.concurrency,
            duration_s=cfg.duration_s,
            bypass_cache=mix.bypass,
        )
        measured = with_api_cpu(measured, cpu_before, api_cpu_seconds(settings))
        out[name] = with_edge(measured, window, mix.paths)
        log(f"  {name:16s} {_fmt(out[name])}")
    if any(SCENARIOS[name][0] == "static_json" for name in selected):
        with static_server(static_body) as url:
            out["static_json"] = run_wrk(
                url, [STATIC_PATH], concurrency=cfg.concurrency, duration_s=cfg.duration_s
            )
        log(f"  {'static_json':16s} {_fmt(out['static_json'])}")
    dsn = replica_dsn_parts(settings)
    for ceiling, source in (
        ("pgbench_search", "search_uncached"),
        ("pgbench_geo", "geo_radius"),
        ("pgbench_facets", "facets_uncached"),
    ):
        if source not in selected:
            continue
        out[ceiling] = run_pgbench(
            dsn, mixes[source].sql, concurrency=cfg.concurrency, duration_s=cfg.duration_s
        )
        log(f"  {ceiling:16s} {_fmt(out[ceiling])}")
    return out


def _fmt(m: Measurement) -> str:
    cpu = f"  API CPU {m.api_cpu_ms:.3f} ms/request" if m.api_cpu_ms is not None else ""
    edge = ""
    if m.edge_hit_ratio is not None:
        edge = f"  edge HIT {m.edge_hit_ratio:.1%} BYPASS {m.edge_bypass_ratio or 0:.1%}"
    return (
        f"{m.rps:9.1f} rps  p50 {m.p50_ms:7.2f}  p95 {m.p95_ms:7.2f}  p99 {m.p99_ms:7.2f} ms"
        f"  errors {m.errors}{cpu}{edge}"
    )


def with_edge(m: Measurement, window: edge_hits.LogWindow, paths: list[str]) -> Measurement:
    """`m` with the shares of its requests the edge answered from its cache and let pass
    (nginx's access log since `window`, the scenario's URIs only); as it was when the log
    is not readable here (another host, rotated meanwhile)."""
    time.sleep(edge_hits.FLUSH_SECONDS)  # nginx writes its log buffer every second
    shares = window.statuses(paths)
    if shares is None or not shares.requests:
        return m
    return dataclasses.replace(
        m,
        edge_hit_ratio=round(shares.hit_ratio, 4),
        edge_bypass_ratio=round(shares.share("BYPASS"), 4),
    )


def with_api_cpu(m: Measurement, before: dict[int, float], after: dict[int, float]) -> Measurement:
    """`m` with the API processes' CPU per request; None if an instance restarted meanwhile
    (its counters started again) or nothing was served."""
    if not m.requests or not after or set(before) != set(after):
        return m
    spent = sum(after[pid] - before[pid] for pid in after)
    return dataclasses.replace(m, api_cpu_ms=round(spent * 1000 / m.requests, 4))


def median_of(runs: list[dict[str, Measurement]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for name in runs[0]:
        values = [r[name] for r in runs]
        out[name] = {
            "rps": statistics.median(v.rps for v in values),
            "p50_ms": statistics.median(v.p50_ms for v in values),
            "p95_ms": statistics.median(v.p95_ms for v in values),
            "p99_ms": statistics.median(v.p99_ms for v in values),
            "errors": sum(v.errors for v in values),
        }
        cpu = [v.api_cpu_ms for v in values if v.api_cpu_ms is not None]
        if cpu:
            out[name]["api_cpu_ms"] = statistics.median(cpu)
        hits = [v.edge_hit_ratio for v in values if v.edge_hit_ratio is not None]
        if hits:
            out[name]["edge_hit_ratio"] = statistics.median(hits)
            out[name]["edge_bypass_ratio"] = statistics.median(
                v.edge_bypass_ratio or 0.0 for v in values if v.edge_hit_ratio is not None
            )
    return out


def verdicts(median: dict[str, dict[str, float]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, (ceiling, targets) in SCENARIOS.items():
        if name not in median:
            continue
        m, c = median[name], median[ceiling]
        entry: dict[str, Any] = {
            "ceiling": ceiling,
            "rps_ratio": round(m["rps"] / c["rps"], 3) if c["rps"] else None,
            "p95_ratio": round(m["p95_ms"] / c["p95_ms"], 2) if c["p95_ms"] else None,
            "zero_errors": m["errors"] == 0,
        }
        if "p95_ms" in targets:
            entry["p95_target_ms"] = targets["p95_ms"]
            entry["p95_ok"] = m["p95_ms"] <= targets["p95_ms"]
        if "min_rps" in targets:
            entry["rps_target"] = targets["min_rps"]
            entry["rps_ok"] = m["rps"] >= targets["min_rps"]
        if "edge_hit_ratio" in m:
            entry["edge_hit_ratio"] = m["edge_hit_ratio"]
            if name in UNCACHED:  # measured at the API: the edge must let every one pass
                entry["edge_bypassed"] = m["edge_hit_ratio"] == 0
        out[name] = entry
    return out


def table(median: dict[str, dict[str, float]], verdict: dict[str, dict[str, Any]]) -> str:
    head = (
        f"{'scenario':16s} {'rps':>9s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s} "
        f"{'errors':>6s}  {'ceiling':15s} {'rps/ceil':>8s} {'target':>14s} {'API CPU ms':>10s}"
        f" {'edge HIT':>8s}"
    )
    lines = [head, "-" * len(head)]
    for name, m in median.items():
        v = verdict.get(name, {})
        target = ""
        if "p95_target_ms" in v:
            target = f"p95<={v['p95_target_ms']:g} {'ok' if v['p95_ok'] else 'MISS'}"
        if "rps_target" in v:
            target += f" rps {'ok' if v['rps_ok'] else 'MISS'}"
        ratio = f"{v['rps_ratio']:.3f}" if v.get("rps_ratio") is not None else ""
        cpu = f"{m['api_cpu_ms']:.3f}" if "api_cpu_ms" in m else ""
        hit = f"{m['edge_hit_ratio']:.1%}" if "edge_hit_ratio" in m else ""
        lines.append(
            f"{name:16s} {m['rps']:9.1f} {m['p50_ms']:8.2f} {m['p95_ms']:8.2f} {m['p99_ms']:8.2f} "
            f"{int(m['errors']):6d}  {v.get('ceiling', ''):15s} {ratio:>8s} {target:>14s}"
            f" {cpu:>10s} {hit:>8s}"
        )
    return "\n".join(lines)


def code_version(settings: Settings) -> str:
    """The deployed version, or the checkout's commit (`+dirty` with local changes)."""
    if settings.app.git_sha != "unknown":
        return settings.app.git_sha

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), *args], capture_output=True, text=True, check=False
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    sha = git("rev-parse", "--short=12", "HEAD")
    if not sha:
        return "unknown"
    return sha + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


_PID = re.compile(r"\bpid (\d+)")


def program_pids(settings: Settings, prefix: str) -> dict[str, int]:
    """Pids of the stack's running programs whose name starts with `prefix`, by name."""
    out: dict[str, int] = {}
    for program in supervisor.states(layout_for(settings)):
        found = _PID.search(program.description)
        if program.name.startswith(prefix) and found is not None:
            out[program.name] = int(found.group(1))
    return out


def _api_pids(settings: Settings) -> dict[str, int]:
    return program_pids(settings, "api-")


def api_cpu_seconds(settings: Settings) -> dict[int, float]:
    """User + system CPU seconds of each API process so far, by pid (from /proc)."""
    return cpu_seconds(_api_pids(settings).values())


def cpu_seconds(pids: Iterable[int]) -> dict[int, float]:
    """User + system CPU seconds of each process so far, by pid (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, float] = {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        # Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
        fields = stat.rsplit(")", 1)[1].split()
        out[pid] = (int(fields[11]) + int(fields[12])) / tick
    return out


def api_rss_mb(settings: Settings) -> dict[str, float]:
    """Resident memory of each API process of the local stack, in MB (from /proc)."""
    out: dict[str, float] = {}
    for name, pid in _api_pids(settings).items():
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                out[name] = round(int(line.split()[1]) / 1024, 1)
    return out


def warm_up(cfg: BenchConfig, mixes: dict[str, Mix], progress: Progress) -> None:
    progress(f"warm-up ({cfg.warmup_s:g} s per scenario)")
    for name in cfg.scenarios():
        mix = mixes[name]
        run_wrk(
            cfg.base_url, mix.paths, concurrency=cfg.concurrency, duration_s=cfg.warmup_s,
            bypass_cache=mix.bypass,
        )  # fmt: skip
        progress(f"  warmed {name}")


def _report_config(cfg: BenchConfig, settings: Settings) -> dict[str, Any]:
    return {
        "listings": cfg.listings,
        "runs": cfg.runs,
        "duration_s": cfg.duration_s,
        "concurrency": cfg.concurrency,
        "base_url": cfg.base_url,
        "scenarios": cfg.scenarios(),
        "api_instances": settings.stack.api_instances,
    }


def run(cfg: BenchConfig, settings: Settings, progress: Progress) -> tuple[dict[str, Any], Path]:
    if cfg.compare_instrumentation:
        return run_instrumentation(cfg, settings, progress)
    started = datetime.now(UTC)
    ready = json.loads(_get(cfg.base_url + "/readyz"))
    progress(f"stack: {ready}")
    memory: dict[str, dict[str, float]] = {"start": api_rss_mb(settings)}
    dataset = ensure_dataset(settings, cfg, progress)
    memory["seeded"] = api_rss_mb(settings)
    mixes = build_mixes(settings)
    static_body = _get(cfg.base_url + mixes["search_cached"].paths[0])
    progress(f"static ceiling body {len(static_body)} B")
    warm_up(cfg, mixes, progress)
    runs: list[dict[str, Measurement]] = []
    memory["warmed"] = api_rss_mb(settings)
    for i in range(cfg.runs):
        progress(f"run {i + 1}/{cfg.runs}")
        runs.append(one_run(cfg, mixes, settings, static_body, progress))
        memory[f"run {i + 1}"] = api_rss_mb(settings)
    progress(f"API processes' resident memory (MB): {memory}")
    median = median_of(runs)
    verdict = verdicts(median)
    report: dict[str, Any] = {
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "git_sha": code_version(settings),
        "config": {
            **_report_config(cfg, settings),
            "static_body_bytes": len(static_body),
            "pgbench_target": f"replica :{_replica_port(settings)} (direct)",
        },
        "dataset": dataset,
        "api_rss_mb": memory,
        "runs": [{k: v.as_dict() for k, v in r.items()} for r in runs],
        "median": median,
        "verdict": verdict,
    }
    cfg.results_dir.mkdir(parents=True, exist_ok=True)
    out = cfg.results_dir / f"{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    return report, out


# What "off" turns off in every API instance and worker: the traces (no provider, no spans,
# no propagation) and the app's per-request access line. "on" is as deployed: the sampling
# ratio stays the environment's (0.01 by default). Metrics stay on in both: the SLOs and the
# autoscaling read them, so they are not optional.
INSTRUMENTATION: dict[str, dict[str, str]] = {
    "on": {"SICHRPLACE_TRACING_ENABLED": "true", "SICHRPLACE_LOG_ACCESS_LOG": "true"},
    "off": {"SICHRPLACE_TRACING_ENABLED": "false", "SICHRPLACE_LOG_ACCESS_LOG": "false"},
}


def switch_instrumentation(settings: Settings, variant: str, progress: Progress) -> None:
    """Restart the stack's API instances and workers with `variant`'s settings: `stack up`
    renders them into the programs' environment, and supervisor restarts what changed (and
    when nothing changed, they are restarted all the same: they run the checkout's code)."""
    cli = str(Path(sys.executable).parent / "sichrplace")
    env = {**os.environ, **INSTRUMENTATION[variant]}

    def sichrplace(*args: str) -> None:
        done = subprocess.run([cli, *args], env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} ({variant}) failed: {done.stdout}{done.stderr}")

    before = _api_pids(settings)
    sichrplace("stack", "up")
    if before and _api_pids(settings) == before:
        workers = [f"worker-{i}" for i in range(1, settings.stack.workers + 1)]
        sichrplace("stack", "restart", *before, *workers)
        sichrplace("stack", "up")  # waits until every instance answers again
    for name, pid in _api_pids(settings).items():
        seen = _environ(pid)
        for key, value in INSTRUMENTATION[variant].items():
            if seen.get(key) != value:
                raise RuntimeError(f"{name} runs with {key}={seen.get(key)!r}, not {value!r}")
    progress(f"instrumentation {variant}: API instances restarted")
    wait_until_indexed(settings, progress)


_INDEX_LOADED = re.compile(r'^sichrplace_facet_index_loads_total\{outcome="ok"\} (\S+)$', re.M)


def wait_until_indexed(settings: Settings, progress: Progress, timeout_s: float = 900.0) -> None:
    """Until every API instance has loaded its in-process search index (16-60 s at 1M
    listings, after a restart): before that, searches fall back to SQL and measure that."""
    if not settings.facet_index.enabled:
        return
    started = time.monotonic()
    ports = [settings.stack.api_base_port + i for i in range(settings.stack.api_instances)]
    for port in ports:
        while True:
            try:
                found = _INDEX_LOADED.search(_get(f"http://127.0.0.1:{port}/metrics").decode())
            except OSError:
                found = None
            if found is not None and float(found.group(1)) >= 1:
                break
            if time.monotonic() - started > timeout_s:
                raise RuntimeError(f"the API on {port} did not load its index in {timeout_s:g} s")
            time.sleep(1)
    progress(f"  every instance's index loaded after {time.monotonic() - started:.0f} s")


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(): v.decode(errors="replace") for k, v in pairs}


def instrumentation_overhead(
    on: dict[str, dict[str, float]], off: dict[str, dict[str, float]]
) -> dict[str, dict[str, float]]:
    """Per scenario: throughput lost and p95 and CPU per request added with instrumentation
    on, as fractions of the figures with it off (0.05 = 5%)."""
    out: dict[str, dict[str, float]] = {}
    for name in on:
        if name not in off or name not in SCENARIOS:
            continue
        a, b = on[name], off[name]
        entry = {
            "rps_loss": round(1 - a["rps"] / b["rps"], 4) if b["rps"] else float("nan"),
            "p95_increase": round(a["p95_ms"] / b["p95_ms"] - 1, 4)
            if b["p95_ms"]
            else float("nan"),
        }
        if "api_cpu_ms" in a and "api_cpu_ms" in b and b["api_cpu_ms"]:
            entry["api_cpu_increase"] = round(a["api_cpu_ms"] / b["api_cpu_ms"] - 1, 4)
        out[name] = entry
    return out


def run_instrumentation(
    cfg: BenchConfig, settings: Settings, progress: Progress
) -> tuple[dict[str, Any], Path]:
    """Paired runs: in each, the scenarios with instrumentation on and off, the order
    alternating between runs so a drift of the machine does not favour one side."""
    started = datetime.now(UTC)
    dataset = ensure_dataset(settings, cfg, progress)
    mixes = build_mixes(settings)
    static_body = _get(cfg.base_url + mixes["search_cached"].paths[0])
    runs: dict[str, list[dict[str, Measurement]]] = {"on": [], "off": []}
    for i in range(cfg.runs):
        order = ("on", "off") if i % 2 == 0 else ("off", "on")
        for variant in order:
            switch_instrumentation(settings, variant, progress)
            warm_up(cfg, mixes, progress)
            progress(f"run {i + 1}/{cfg.runs}, instrumentation {variant}")
            runs[variant].append(one_run(cfg, mixes, settings, static_body, progress))
    switch_instrumentation(settings, "on", progress)  # leave the stack as deployed
    median = {variant: median_of(found) for variant, found in runs.items()}
    report: dict[str, Any] = {
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "git_sha": code_version(settings),
        "config": {
            **_report_config(cfg, settings),
            "instrumentation": INSTRUMENTATION,
            "sample_ratio": settings.tracing.sample_ratio,
        },
        "dataset": dataset,
        "runs": {
            v: [{k: m.as_dict() for k, m in r.items()} for r in found] for v, found in runs.items()
        },
        "median": median,
        "verdict": {v: verdicts(m) for v, m in median.items()},
        "overhead": instrumentation_overhead(median["on"], median["off"]),
    }
    cfg.results_dir.mkdir(parents=True, exist_ok=True)
    out = cfg.results_dir / f"{started.strftime('%Y%m%dT%H%M%SZ')}-instrumentation.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    return report, out


def overhead_table(overhead: dict[str, dict[str, float]]) -> str:
    head = f"{'scenario':16s} {'rps lost':>9s} {'p95 added':>10s} {'CPU/request added':>18s}"
    lines = [head, "-" * len(head)]
    for name, o in overhead.items():
        cpu = f"{o['api_cpu_increase']:+.1%}" if "api_cpu_increase" in o else ""
        lines.append(f"{name:16s} {o['rps_loss']:+9.1%} {o['p95_increase']:+10.1%} {cpu:>18s}")
    return "\n".join(lines)
