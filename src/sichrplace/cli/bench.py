"""`sichrplace bench`: load benchmarks against the running local stack, and the in-process
index on its own (`index`: no stack needed)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from sichrplace.config import get_settings

app = typer.Typer(no_args_is_help=True, help="Benchmarks through nginx, with their ceilings.")

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m)?$")


def parse_duration(text: str) -> float:
    """ "20s" / "1.5m" / "500ms" / "20" -> seconds."""
    match = _DURATION.match(text.strip())
    if not match:
        raise typer.BadParameter(f"not a duration: {text!r} (e.g. 20s, 1m)")
    value, unit = float(match.group(1)), match.group(2) or "s"
    return value * {"ms": 0.001, "s": 1.0, "m": 60.0}[unit]


def _judged(
    report: dict[str, Any],
    path: object,
    table: Callable[[dict[str, Any], dict[str, Any]], str],
    run_line: Callable[[str, dict[str, Any]], str],
) -> None:
    """The open-model benchmarks' ending: the medians and verdict, each run, where the results
    are; exit 1 unless every target and check held."""
    typer.echo(table(report["median"], report["verdict"]))
    for i, info in enumerate(report["runs"], 1):
        typer.echo(run_line(str(i), info))
    typer.echo(f"\nresults: {path}")
    if not report["verdict"]["passed"]:
        raise typer.Exit(1)


@app.command()
def search(
    listings: int = typer.Option(1_000_000, min=1, help="Seeded listings the run needs."),
    runs: int = typer.Option(3, min=1, help="Runs; the report is the median."),
    duration: str = typer.Option("20s", help="Per scenario and run (e.g. 20s, 1m)."),
    concurrency: int = typer.Option(32, min=1, help="Open connections (wrk -c, pgbench -c)."),
    warmup: str = typer.Option("5s", help="Warm-up per scenario before the runs."),
    base_url: str = typer.Option("", help="Default: the stack's nginx."),
    reseed: bool = typer.Option(
        False, help="Delete the seeded listings and seed them again first (a cold run)."
    ),
    only: str = typer.Option(
        "", help="Comma list of scenarios to run (with their ceilings); default: all."
    ),
    compare_instrumentation: bool = typer.Option(
        False,
        help="Each run with traces and access log on and off (the API instances restarted"
        " in between, the order alternating) and the overhead; the local stack only.",
    ),
) -> None:
    """Search, facets, detail and /healthz through nginx with wrk, plus the ceilings:
    static JSON from nginx and the uncached SQL with pgbench on the replica."""
    from sichrplace.bench.runner import SCENARIOS, BenchConfig, overhead_table, run, table

    chosen = tuple(name.strip() for name in only.split(",") if name.strip())
    unknown = sorted(set(chosen) - set(SCENARIOS))
    if unknown:
        raise typer.BadParameter(f"unknown scenarios {unknown}; known: {list(SCENARIOS)}")
    settings = get_settings()
    cfg = BenchConfig(
        listings=listings,
        runs=runs,
        duration_s=parse_duration(duration),
        concurrency=concurrency,
        warmup_s=parse_duration(warmup),
        base_url=base_url or f"http://127.0.0.1:{settings.stack.nginx_port}",
        reseed=reseed,
        only=chosen,
        compare_instrumentation=compare_instrumentation,
    )
    report, path = run(cfg, settings, typer.echo)
    typer.echo("")
    typer.echo(f"median of {runs} runs, {concurrency} connections, {duration} each:")
    if compare_instrumentation:
        for variant in ("on", "off"):
            typer.echo(f"\ninstrumentation {variant}:")
            typer.echo(table(report["median"][variant], report["verdict"][variant]))
        typer.echo("\noverhead of instrumentation (on against off):")
        typer.echo(overhead_table(report["overhead"]))
    else:
        typer.echo(table(report["median"], report["verdict"]))
    typer.echo(f"\nresults: {path}")


@app.command()
def booking(
    runs: int = typer.Option(3, min=1, help="Runs; the report is the median."),
    duration: str = typer.Option("20s", help="Measured phase per run (e.g. 20s, 1m)."),
    concurrency: int = typer.Option(32, min=1, help="Open connections to nginx."),
    warmup: str = typer.Option("5s", help="Booking phase once before the runs (not measured)."),
    capacity_duration: str = typer.Option(
        "10s", help="Per run: the phase at full speed that measures the capacity."
    ),
    load: float = typer.Option(
        0.5,
        min=0.05,
        max=1.0,
        help="The measured phase's arrival rate, as a share of capacity (0.5: one of the two"
        " API instances can fail and the other carries the load).",
    ),
    ceiling_duration: str = typer.Option("5s", help="Per ceiling and run."),
    racers: int = typer.Option(4, min=1, help="Tenants racing for each slot."),
    tenants: int = typer.Option(200, min=1, help="Bench tenants (made once, kept)."),
    listings: int = typer.Option(32, min=1, help="Bench listings the slots go on (kept)."),
    base_url: str = typer.Option("", help="Default: the stack's nginx."),
    fake_stripe_url: str = typer.Option("", help="Default: the stack's fake Stripe."),
) -> None:
    """Tenants racing for viewing slots through nginx, the winners paying while signed
    webhooks arrive. Each run measures the capacity (races per second at full speed), then
    sends races at a share of it (--load) and checks booking, payment-intent and webhook p95
    against their targets; the ceilings (/healthz, /api/v1/me) from the same run, and the
    database counted afterwards (no double booking, no double charge). Exits 1 when a target
    or a check fails."""
    from sichrplace.bench.booking import BookingBenchConfig, run, run_line, table

    settings = get_settings()
    landlords = max(1, min(8, listings))
    cfg = BookingBenchConfig(
        runs=runs,
        duration_s=parse_duration(duration),
        concurrency=concurrency,
        warmup_s=parse_duration(warmup),
        capacity_s=parse_duration(capacity_duration),
        load=load,
        ceiling_s=parse_duration(ceiling_duration),
        racers=racers,
        tenants=tenants,
        landlords=landlords,
        listings_per_landlord=-(-listings // landlords),
        base_url=base_url or f"http://127.0.0.1:{settings.stack.nginx_port}",
        fake_url=fake_stripe_url or f"http://127.0.0.1:{settings.stack.stripe_fake_port}",
    )
    report, path = run(cfg, settings, typer.echo)
    typer.echo("")
    pace = report["medians_of_runs"]
    typer.echo(
        f"median of {runs} runs, {concurrency} connections, {duration} each at"
        f" {load:g} x capacity ({pace.get('offered_races_per_s', 0):.1f} of"
        f" {pace.get('capacity_races_per_s', 0):.1f} races/s):"
    )
    _judged(report, path, table, run_line)


@app.command()
def messaging(
    runs: int = typer.Option(3, min=1, help="Runs; the report is the median."),
    duration: str = typer.Option("20s", help="Measured phase per run (e.g. 20s, 1m)."),
    connections: int = typer.Option(
        1000, min=2, help="Event streams (GET /api/v1/events) held open through nginx."
    ),
    streams_per_user: int = typer.Option(
        2, min=1, help="Streams per user (the users are connections / this, in pairs)."
    ),
    concurrency: int = typer.Option(32, min=1, help="Connections the messages are sent on."),
    warmup: str = typer.Option("5s", help="Sending flat out once before the runs (not measured)."),
    capacity_duration: str = typer.Option(
        "10s", help="Per run: the phase at full speed that measures the capacity."
    ),
    load: float = typer.Option(
        0.5,
        min=0.05,
        max=1.0,
        help="The measured phase's arrival rate, as a share of capacity (0.5: one of the two"
        " API instances can fail and the other carries the load).",
    ),
    rate: float = typer.Option(
        0.0, min=0.0, help="Messages per second in the measured phase instead of --load (0: off)."
    ),
    ceiling_duration: str = typer.Option("5s", help="Per ceiling and run."),
    base_url: str = typer.Option("", help="Default: the stack's nginx."),
) -> None:
    """Event streams held open across the API instances while messages are sent. Each run
    measures the capacity (messages per second at full speed), then sends at a share of it
    (--load) or at --rate and checks send p95 and send-to-receive p95 (from the send's start
    to the event on every stream of the recipient) against their targets; the ceilings
    (/healthz, /api/v1/me, a Redis pub/sub round trip) from the same run; every message
    counted on every stream that must carry it, and a reconnect with Last-Event-ID per user
    compared with what its streams received. Exits 1 when a target or a check fails."""
    from sichrplace.bench.messaging import MessagingBenchConfig, run, run_line, table

    settings = get_settings()
    cfg = MessagingBenchConfig(
        runs=runs,
        duration_s=parse_duration(duration),
        connections=connections,
        streams_per_user=streams_per_user,
        concurrency=concurrency,
        warmup_s=parse_duration(warmup),
        capacity_s=parse_duration(capacity_duration),
        load=load,
        rate=rate or None,
        ceiling_s=parse_duration(ceiling_duration),
        base_url=base_url or f"http://127.0.0.1:{settings.stack.nginx_port}",
    )
    report, path = run(cfg, settings, typer.echo)
    typer.echo("")
    pace = report["medians_of_runs"]
    typer.echo(
        f"median of {runs} runs, {connections} streams, {concurrency} sending connections,"
        f" {duration} each at {pace.get('offered_messages_per_s', 0):.1f} messages/s"
        f" (capacity {pace.get('capacity_messages_per_s', 0):.1f}):"
    )
    _judged(report, path, table, run_line)


@app.command()
def web(
    listings: int = typer.Option(1_000_000, min=1, help="Seeded listings the run needs."),
    runs: int = typer.Option(3, min=1, help="Lighthouse runs per page; the report is the median."),
    base_url: str = typer.Option("", help="Default: the stack's nginx."),
) -> None:
    """Lighthouse 12 (mobile preset) on home, a search results page and a listing page with
    Debian's chromium: performance, LCP, CLS, TBT and accessibility, medians of the runs."""
    from sichrplace.bench.web import WebBenchConfig, run, table

    settings = get_settings()
    cfg = WebBenchConfig(
        listings=listings,
        runs=runs,
        base_url=base_url or f"http://127.0.0.1:{settings.stack.nginx_port}",
    )
    report, path = run(cfg, settings, typer.echo)
    typer.echo(f"\nmedian of {runs} runs:")
    typer.echo(table(report["median"], report["verdict"]))
    typer.echo(f"\nresults: {path}")
    if not report["verdict"]["passed"]:
        raise typer.Exit(1)


@app.command()
def explain(
    replica: bool = typer.Option(True, help="Run on the replica (what the API reads)."),
    search_path: str = typer.Option("", hidden=True, help="Another schema (experiments)."),
) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of the main search and facet shapes, as Markdown."""
    from sichrplace.bench.explain import explain_markdown

    settings = get_settings()
    dsn = settings.db.direct_dsn
    if replica:
        dsn = dsn.replace(f":{settings.db.direct_port}/", f":{settings.stack.replica_port}/")
    typer.echo(explain_markdown(dsn, search_path or None))


@app.command()
def platform(
    runs: int = typer.Option(5, min=1, help="Runs per case; the report is the median."),
    local_calls: int = typer.Option(20_000, min=1, help="Calls per run without I/O."),
    redis_calls: int = typer.Option(2_000, min=1, help="Calls per run that reach Redis."),
) -> None:
    """Per-call cost of the breaker, bulkhead, limiter, quota and cache next to the
    maintained libraries for the job (needs the stack's Redis; docs/adr/0007)."""
    import asyncio

    from sichrplace.bench.platform import run, table

    settings = get_settings()
    results = asyncio.run(
        run(settings, runs=runs, local_calls=local_calls, redis_calls=redis_calls, echo=typer.echo)
    )
    typer.echo("")
    typer.echo(f"median of {runs} runs, mean per call:")
    typer.echo(table(results))


@app.command()
def index(
    listings: int = typer.Option(1_000_000, min=1_000, help="Synthetic active listings."),
    runs: int = typer.Option(5, min=1, help="Builds and with_changes calls (medians)."),
    changes: int = typer.Option(50_000, min=0, help="Changed listings since the load."),
    repeats: int = typer.Option(50, min=1, help="Calls per filter set and operation."),
    reloads: int = typer.Option(3, min=1, help="Reloads in a row (RSS after each)."),
    seed: int = typer.Option(1, help="Seed of the synthetic listings."),
) -> None:
    """The in-process search index without a database: build time, memory per listing, per
    changed listing and after a reload, count and page latency and the longest step
    (docs/adr/0005)."""
    from sichrplace.bench.index import IndexBenchConfig, run, table

    cfg = IndexBenchConfig(
        listings=listings,
        runs=runs,
        changes=min(changes, listings),
        repeats=repeats,
        reloads=reloads,
        seed=seed,
    )
    report, path = run(cfg, typer.echo)
    typer.echo("")
    typer.echo(table(report))
    typer.echo(f"\nresults: {path}")


@app.command()
def analytics(
    runs: int = typer.Option(3, min=1, help="Runs; the report is the median."),
    duration: str = typer.Option("20s", help="Per operation and run (e.g. 20s, 1m)."),
    concurrency: int = typer.Option(32, min=1, help="Open connections (wrk -c)."),
    warmup: str = typer.Option("5s", help="The statistics asked for once before the runs."),
    capacity_duration: str = typer.Option(
        "10s", help="Per run: the statistics flat out, which measures the capacity."
    ),
    load: float = typer.Option(
        0.5,
        min=0.05,
        max=1.0,
        help="The measured phase's rate, as a share of capacity (0.5: one of the two API"
        " instances can fail and the other carries the load).",
    ),
    ceiling_duration: str = typer.Option("10s", help="Per ceiling and run (at the same rate)."),
    landlords: int = typer.Option(8, min=1, help="Bench landlords (made once, kept)."),
    listings: int = typer.Option(4, min=1, help="Listings per bench landlord (kept)."),
    base_url: str = typer.Option("", help="Default: the stack's nginx."),
) -> None:
    """The landlord's statistics (GET /listings/{id}/stats, from the rollups) through nginx
    with wrk, each landlord asking about its own listings over 7, 30 and 90 days. Each run
    measures the capacity flat out, then sends at a share of it (--load) and checks p95;
    the ceilings (/api/v1/me with the same tokens, /healthz) at the same rate in the same
    run. Exits 1 when p95 is above 20 ms or a request failed."""
    from sichrplace.bench.analytics import AnalyticsBenchConfig, run, table

    settings = get_settings()
    cfg = AnalyticsBenchConfig(
        runs=runs,
        duration_s=parse_duration(duration),
        concurrency=concurrency,
        warmup_s=parse_duration(warmup),
        capacity_s=parse_duration(capacity_duration),
        load=load,
        ceiling_s=parse_duration(ceiling_duration),
        landlords=landlords,
        listings_per_landlord=listings,
        base_url=base_url or f"http://127.0.0.1:{settings.stack.nginx_port}",
    )
    report, path = run(cfg, settings, typer.echo)
    typer.echo("")
    pace = report["medians_of_runs"]
    typer.echo(
        f"median of {runs} runs, {concurrency} connections, {duration} each at {load:g} x"
        f" capacity ({pace['offered_rps']:.0f} of {pace['capacity_rps']:.0f} requests/s):"
    )
    typer.echo(table(report["median"], report["verdict"]))
    typer.echo(f"\nresults: {path}")
    if not report["verdict"]["passed"]:
        raise typer.Exit(1)


@app.command()
def soak(
    duration: str = typer.Option("30m", help="How long the mixed load is held (e.g. 30m)."),
    rate: float = typer.Option(70.0, min=1.0, help="Requests per second of the whole mix."),
    interval: str = typer.Option("10s", help="Time between two samples."),
    warmup: str = typer.Option(
        "5m", help="Left out of the slope check (a third of a shorter run at most)."
    ),
    judge: Path = typer.Option(
        None, "--judge", help="Judge a recorded soak's series (its results JSON) instead."
    ),
) -> None:
    """The mixed load held for --duration while every stack process's memory and open files,
    the connections (Postgres, PgBouncer, Redis), the job queues and the API's p95 are
    sampled; then a least-squares slope per series over the steady part against its bound
    (docs/performance.md, "The soak"). Writes the results JSON and a CSV of the series;
    exits 1 on a leak."""
    from sichrplace.bench.soak import SoakConfig, rejudge, run, summary, table

    cfg = SoakConfig(
        duration_s=parse_duration(duration),
        rate=rate,
        interval_s=parse_duration(interval),
        warmup_s=parse_duration(warmup),
    )
    if judge is not None:
        verdicts = rejudge(judge, cfg)
        typer.echo(table(verdicts))
        if not all(v.ok for v in verdicts):
            raise typer.Exit(1)
        return
    report, path = run(cfg, get_settings(), typer.echo)
    typer.echo(summary(report, path))
    if not report["passed"]:
        raise typer.Exit(1)


@app.command()
def mixed(
    rate: float = typer.Option(80.0, min=1.0, help="Requests per second of the whole mix."),
    runs: int = typer.Option(3, min=1, help="Runs; the report is the median."),
    duration: str = typer.Option("60s", help="Measured time per run (after the warm-up)."),
    warmup: str = typer.Option("10s", help="Left out of the figures at the start of a run."),
    listings: int = typer.Option(1_000_000, min=1, help="Listings (any status) the run needs."),
) -> None:
    """The mixed load (Locust: visitors searching, members, messages and event streams,
    bookings paid at the fake provider, contracts signed) at --rate through nginx; per
    operation rps, p50/p95/p99 and errors beside the ceilings of the same run (healthz, the
    visitors' capacity), judged against issue 20's targets. Exits 1 unless all hold."""
    from sichrplace.bench.mixed.bench import MixedBenchConfig, run, table

    cfg = MixedBenchConfig(
        rate=rate,
        runs=runs,
        duration_s=parse_duration(duration),
        warmup_s=parse_duration(warmup),
        listings=listings,
    )
    report, path = run(get_settings(), cfg, typer.echo)
    typer.echo(table(report))
    typer.echo(f"\nresults: {path}")
    if not report["verdict"]["passed"]:
        raise typer.Exit(1)


@app.command()
def gate(
    config: Path = typer.Option(None, help="Default: bench/gate.yaml."),
    judge_only: Path = typer.Option(
        None, "--judge", help="Judge the figures of an earlier gate run (its JSON) instead."
    ),
    baseline: Path = typer.Option(None, help="Default: bench/baselines/gate.json."),
    update_baseline: bool = typer.Option(False, help="Accept this run's figures as the baseline."),
    out: Path = typer.Option(None, help="Where this run's figures go (default: build/gate/)."),
) -> None:
    """The load gate: a short mixed load, each scenario's p95 and error rate against the
    thresholds its SLOs give (bench/gate.yaml); prints the figures beside the baseline and
    every broken threshold, and exits 1 if one is broken."""
    from datetime import UTC, datetime

    from sichrplace.bench.mixed import gate as gate_
    from sichrplace.bench.mixed.run import LoadSpec, start_load
    from sichrplace.config import PROJECT_ROOT

    cfg = gate_.load_config(config or gate_.GATE_FILE)
    if judge_only is not None:
        summary = gate_.read_summary(judge_only)
        achieved = float(json.loads(judge_only.read_text()).get("achieved_rps", 0.0))
    else:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        work = PROJECT_ROOT / "build" / "gate" / stamp
        spec = LoadSpec(
            rate=cfg.rate,
            duration_s=cfg.duration_s,
            warmup_s=cfg.warmup_s,
            listeners=cfg.listeners,
            min_tasks=cfg.min_tasks,
        )
        result = start_load(get_settings(), spec, work, typer.echo).wait()
        summary = gate_.summarize(result)
        achieved = result.total_rate()
        target = out or work / "gate.json"
        gate_.write_summary(target, summary, cfg, achieved)
        typer.echo(f"figures: {target} ({result.total_rate()} rps of {cfg.rate})")
    typer.echo(gate_.table(summary, cfg.thresholds))
    base_path = baseline or gate_.BASELINE_FILE
    if base_path.exists():
        typer.echo("\nagainst the baseline:")
        for line in gate_.compare(summary, json.loads(base_path.read_text())):
            typer.echo(line)
    breaches = gate_.judge(summary, cfg.thresholds)
    if update_baseline and not breaches:
        gate_.write_summary(base_path, summary, cfg, achieved)
        typer.echo(f"baseline updated: {base_path}")
    if breaches:
        typer.echo("\nload gate: FAIL")
        for breach in breaches:
            typer.echo(f"  {breach}")
        raise typer.Exit(1)
    typer.echo("\nload gate: PASS")
