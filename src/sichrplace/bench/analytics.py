"""`sichrplace bench analytics`: the landlord's statistics (GET /listings/{id}/stats) through
nginx with wrk, each landlord asking about its own listings, against the ceilings of the same
run: `me` (a token checked, the smallest authenticated answer) and `healthz`.

Each run first measures the capacity (wrk flat out, `--capacity-duration`), then sends the
statistics at a share of it (`--load`, 0.5 as in `bench booking`: one of the two API
instances can fail and the other carries the load) and judges p95 there; the ceilings are
measured at the same pace. The pace comes from wrk itself: each connection waits an
exponentially distributed time between its requests (mean = connections / rate), so the
arrivals are close to Poisson at the chosen rate while wrk's latency counts only the request.
A closed loop flat out measures queueing, not the endpoint: 32 connections on two cores wait
on each other whatever the endpoint costs (docs/performance.md, the booking benchmark).

The cast (landlords `analytics-landlord-NNNN@bench...`, their listings made through the API)
is kept between runs; their rollup rows (listing_daily) are synthetic, one per day up to 400
days back but none in the last `popular_days` + 1 days, so the bench listings never rank in
GET /listings/popular. Each request asks for one of three ranges (7, 30 and 90 days).
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from sichrplace.bench import judging
from sichrplace.bench.booking_setup import bearer_headers, ensure_listings, ensure_members
from sichrplace.bench.load import WRK_DONE, Measurement, require_tool, wrk_measurement
from sichrplace.bench.runner import (
    api_cpu_seconds,
    code_version,
    median_of,
    wait_until_indexed,
    with_api_cpu,
)
from sichrplace.config import PROJECT_ROOT, Settings
from sichrplace.seeding.loader import unusable_password_hash

Progress = Callable[[str], None]

OPS = ("listing_stats",)
CEILINGS = ("me", "healthz")
# Issue 19's acceptance: the landlord endpoint answers from rollups, p95 <= 20 ms.
TARGETS = {"listing_stats": ("me", 20.0)}
CHECKS = ("errors",)
HISTORY_DAYS = 400
RANGES = (7, 30, 90)

# Requests are formatted once (path and Authorization per line); each connection walks the
# list from its own offset. The summary line is load.py's.
WRK_SCRIPT = r"""
local reqs = {}
local counter = 0
local threads = {}
local next_id = 0

setup = function(thread)
  next_id = next_id + 1
  thread:set("id", next_id)
  table.insert(threads, thread)
end

init = function(args)
  math.randomseed(1000 + 7919 * (id or 1))
  for line in io.lines(args[1]) do
    local path, auth = line:match("^([^\t]+)\t?(.*)$")
    if path ~= nil then
      local headers = {}
      if auth ~= nil and #auth > 0 then headers["Authorization"] = auth end
      reqs[#reqs + 1] = wrk.format("GET", path, headers)
    end
  end
  counter = math.floor((#reqs / 7) * (id or 1)) % #reqs
end

request = function()
  counter = counter % #reqs + 1
  return reqs[counter]
end
__DELAY__
"""


@dataclass
class AnalyticsBenchConfig:
    runs: int = 3
    duration_s: float = 20.0
    concurrency: int = 32
    warmup_s: float = 5.0
    capacity_s: float = 10.0
    load: float = 0.5
    ceiling_s: float = 10.0
    landlords: int = 8
    listings_per_landlord: int = 4
    base_url: str = "http://127.0.0.1:58080"
    seed: int = 19
    results_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "bench" / "results")


# An exponential wait (ms) before each request: wrk decides whether a script paces from the
# script as loaded, so the function is only in the script of a paced phase.
DELAY = """
delay = function()
  return -math.log(1 - math.random()) * %.3f
end
"""


def run_wrk_lines(
    base_url: str,
    lines: Sequence[str],
    *,
    concurrency: int,
    duration_s: float,
    think_ms: float = 0.0,
) -> Measurement:
    """wrk over pre-formatted requests ("path<TAB>Authorization" per line); with `think_ms`,
    each connection waits that long on average (exponentially) before each request."""
    wrk = require_tool("wrk")
    with tempfile.TemporaryDirectory(prefix="sichrplace-wrk-") as tmp:
        script = Path(tmp, "requests.lua")
        script.write_text(
            WRK_SCRIPT.replace("__DELAY__", DELAY % think_ms if think_ms else "") + WRK_DONE
        )
        listed = Path(tmp, "requests.txt")
        listed.write_text("\n".join(lines) + "\n")
        cmd = [
            wrk, f"-t{max(1, min(2, concurrency))}", f"-c{concurrency}",
            f"-d{max(1, round(duration_s))}s", "--timeout", "5s", "-s", str(script),
            base_url, "--", str(listed),
        ]  # fmt: skip
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=duration_s + 60, check=False
        )
    return wrk_measurement(proc)


def seed_rollups(
    conn: psycopg.Connection, listings: Sequence[uuid.UUID], *, quiet_days: int, seed: int
) -> int:
    """Synthetic listing_daily rows for the bench listings (kept; written once)."""
    rng = random.Random(seed)
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=n) for n in range(quiet_days + 1, HISTORY_DAYS + 1)]
    rows = [
        (listing, day, rng.randint(0, 60), rng.randint(0, 5), rng.randint(0, 2))
        for listing in listings
        for day in days
    ]
    done = conn.execute(
        "INSERT INTO listing_daily (listing_id, day, city_key, views, enquiries, bookings) "
        "SELECT r.l, r.d, l.city_key, r.v, r.e, r.b FROM unnest(%s::uuid[], %s::date[], "
        "%s::int[], %s::int[], %s::int[]) AS r(l, d, v, e, b) JOIN listings l ON l.id = r.l "
        "ON CONFLICT (listing_id, day) DO NOTHING",
        [[row[i] for row in rows] for i in range(5)],
    ).rowcount
    conn.commit()
    return done


def request_lines(
    owners: Sequence[tuple[uuid.UUID, str]], *, rng: random.Random, count: int = 2000
) -> list[str]:
    """GET /listings/{id}/stats by each listing's own landlord, over the three ranges."""
    today = datetime.now(UTC).date()
    out: list[str] = []
    for i in range(count):
        listing, auth = owners[rng.randrange(len(owners))]
        span = RANGES[i % len(RANGES)]
        first = today - timedelta(days=span - 1)
        out.append(f"/api/v1/listings/{listing}/stats?from={first}&to={today}\t{auth}")
    return out


@dataclass
class Cast:
    owners: list[tuple[uuid.UUID, str]]  # (listing, its landlord's Authorization)
    tokens: list[str]
    synthetic_rows: int


def prepare(settings: Settings, cfg: AnalyticsBenchConfig, progress: Progress) -> Cast:
    with psycopg.connect(settings.db.direct_dsn) as conn:
        landlords = ensure_members(
            conn, "landlord", cfg.landlords, unusable_password_hash(settings), prefix="analytics"
        )
        tokens = bearer_headers(settings, landlords, datetime.now(UTC))
        listings = ensure_listings(conn, cfg.base_url, landlords, tokens, cfg.listings_per_landlord)
        rows = seed_rollups(
            conn, listings, quiet_days=settings.analytics.popular_days, seed=cfg.seed
        )
    by_owner = {m.id: t for m, t in zip(landlords, tokens, strict=True)}
    owners: list[tuple[uuid.UUID, str]] = []
    for i, listing in enumerate(listings):
        owner = landlords[i // cfg.listings_per_landlord]
        owners.append((listing, by_owner[owner.id]))
    progress(f"{len(landlords)} landlords, {len(listings)} listings, {rows} rollup rows added")
    return Cast(owners, tokens, rows)


def one_run(
    cfg: AnalyticsBenchConfig, settings: Settings, lines: dict[str, list[str]], log: Progress
) -> tuple[dict[str, Measurement], dict[str, float]]:
    """The capacity flat out, then the statistics and the ceilings at `load` x capacity."""
    out: dict[str, Measurement] = {}

    def measure(name: str, op: str, seconds: float, think_ms: float) -> Measurement:
        before = api_cpu_seconds(settings)
        measured = run_wrk_lines(
            cfg.base_url,
            lines[op],
            concurrency=cfg.concurrency,
            duration_s=seconds,
            think_ms=think_ms,
        )
        out[name] = m = with_api_cpu(measured, before, api_cpu_seconds(settings))
        cpu = f"  API CPU {m.api_cpu_ms:.3f} ms" if m.api_cpu_ms else ""
        log(
            f"  {name:26s} {m.rps:8.1f} rps  p50 {m.p50_ms:6.2f}  p95 {m.p95_ms:6.2f}"
            f"  p99 {m.p99_ms:6.2f} ms  errors {m.errors}{cpu}"
        )
        return m

    capacity = measure(judging.saturated("listing_stats"), "listing_stats", cfg.capacity_s, 0.0)
    offered = max(1.0, cfg.load * capacity.rps)
    think_ms = 1000.0 * cfg.concurrency / offered
    measure("listing_stats", "listing_stats", cfg.duration_s, think_ms)
    for op in CEILINGS:
        measure(op, op, cfg.ceiling_s, think_ms)
    pace = {"capacity_rps": capacity.rps, "offered_rps": round(offered, 1), "think_ms": think_ms}
    return out, pace


def table(median: dict[str, dict[str, float]], verdict: dict[str, Any]) -> str:
    return judging.table(
        median, verdict, ops=OPS, ceilings=CEILINGS, rate="rps", width=16, checked_over="runs"
    )


def run(
    cfg: AnalyticsBenchConfig, settings: Settings, progress: Progress
) -> tuple[dict[str, Any], Path]:
    started, began = datetime.now(UTC), time.monotonic()
    rng = random.Random(cfg.seed)
    # A freshly started instance loads its search index first (16-60 s of its CPU at 1M
    # listings): measured meanwhile, every figure here would be that load's.
    wait_until_indexed(settings, progress)
    cast = prepare(settings, cfg, progress)
    lines = {
        "listing_stats": request_lines(cast.owners, rng=rng),
        "me": [f"/api/v1/me\t{t}" for t in cast.tokens],
        "healthz": ["/healthz"],
    }
    progress(f"warm-up ({cfg.warmup_s:g} s)")
    run_wrk_lines(
        cfg.base_url, lines["listing_stats"], concurrency=cfg.concurrency, duration_s=cfg.warmup_s
    )
    runs: list[dict[str, Measurement]] = []
    paces: list[dict[str, float]] = []
    for i in range(cfg.runs):
        progress(f"run {i + 1}/{cfg.runs}")
        measured, pace = one_run(cfg, settings, lines, progress)
        runs.append(measured)
        paces.append(pace)
        progress(
            f"  capacity {pace['capacity_rps']:.0f} rps; measured at {pace['offered_rps']:.0f}"
            f" rps offered ({cfg.load:g} x capacity)"
        )
    median = median_of(runs)
    requests: Counter[str] = Counter()
    for r in runs:
        requests.update({op: m.requests for op, m in r.items()})
    checks = {"errors": sum(r[op].errors for r in runs for op in OPS)}
    verdict = judging.verdicts(median, checks, dict(requests), targets=TARGETS, check_names=CHECKS)
    report: dict[str, Any] = {
        "benchmark": "analytics",
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "wall_s": round(time.monotonic() - began, 1),
        "git_sha": code_version(settings),
        "config": {
            "runs": cfg.runs,
            "duration_s": cfg.duration_s,
            "warmup_s": cfg.warmup_s,
            "concurrency": cfg.concurrency,
            "capacity_s": cfg.capacity_s,
            "load": cfg.load,
            "ceiling_s": cfg.ceiling_s,
            "landlords": cfg.landlords,
            "listings": len(cast.owners),
            "ranges_days": list(RANGES),
            "history_days": HISTORY_DAYS,
            "base_url": cfg.base_url,
            "api_instances": settings.stack.api_instances,
        },
        "runs": [
            {"measurements": {op: m.as_dict() for op, m in r.items()}, "pace": pace}
            for r, pace in zip(runs, paces, strict=True)
        ],
        "median": median,
        "medians_of_runs": {
            key: statistics.median(p[key] for p in paces)
            for key in ("capacity_rps", "offered_rps", "think_ms")
        },
        "checks": checks,
        "verdict": verdict,
    }
    cfg.results_dir.mkdir(parents=True, exist_ok=True)
    out = cfg.results_dir / f"{started.strftime('%Y%m%dT%H%M%SZ')}-analytics.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    return report, out
