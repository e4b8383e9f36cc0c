"""`sichrplace bench booking`: tenants racing for viewing slots through nginx while payment
webhooks arrive; latencies against the targets of issue 16, ceilings from the same run, and
the database counted afterwards (no double booking, no double charge).

A run: fresh slots and tokens, the booking phase (booking_load.py), the provider's own
deliveries waited for, the ceilings, the audit of the run's rows, the slots retired. The
report is the median of the runs; the checks add up over all runs.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import statistics
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from sichrplace.bench import booking_setup as cast_
from sichrplace.bench import judging
from sichrplace.bench.booking_load import (
    CEILINGS,
    OPS,
    Journey,
    Pace,
    Tally,
    booking_phase,
    ceiling_phase,
    race_plan,
)
from sichrplace.bench.judging import saturated
from sichrplace.bench.load import Measurement
from sichrplace.bench.runner import (
    api_cpu_seconds,
    code_version,
    cpu_seconds,
    median_of,
    program_pids,
    with_api_cpu,
)
from sichrplace.config import PROJECT_ROOT, Settings
from sichrplace.integrations.payments import DEV_STRIPE_WEBHOOK_SECRET
from sichrplace.integrations.payments.stripe import WEBHOOK_SECRET_NAME
from sichrplace.notifications.tasks import NOTIFICATIONS_QUEUE
from sichrplace.platform.secrets import provider_for
from sichrplace.seeding.loader import unusable_password_hash

Progress = Callable[[str], None]

# operation -> (its ceiling, p95 target in ms): issue 16's acceptance.
TARGETS: dict[str, tuple[str, float]] = {
    "booking_create": ("me", 150.0),
    "intent_create": ("me", 150.0),
    "webhook_apply": ("healthz", 100.0),
}
# Counted over all runs; each must be zero. The acceptance's three, and two that show the
# webhooks did their work: every booking confirmed, every event (ours, the provider's)
# applied.
CHECKS = (
    "status_5xx",
    "double_bookings",
    "double_charges",
    "unconfirmed",
    "unapplied_events",
)
# Slots for the warm-up, before the rate is known (races per second, a generous guess).
GUESS_RACES_PER_S = 150
# Slots per run: the race rate seen so far x duration x this (unused ones are retired; a
# phase that runs out of slots ends early).
SLOT_MARGIN = 2.5


@dataclass
class BookingBenchConfig:
    runs: int = 3
    duration_s: float = 20.0
    concurrency: int = 32
    warmup_s: float = 5.0
    capacity_s: float = 10.0  # the closed-model phase that measures the capacity, per run
    load: float = 0.5  # the measured phase's arrival rate, as a share of that capacity
    ceiling_s: float = 5.0
    racers: int = 4  # tenants per slot
    tenants: int = 200
    landlords: int = 8
    listings_per_landlord: int = 4
    base_url: str = "http://127.0.0.1:58080"
    fake_url: str = "http://127.0.0.1:58091"
    settle_s: float = 15.0  # longest wait for the provider's own deliveries after a phase
    seed: int = 1
    results_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "bench" / "results")


@dataclass
class RunResult:
    measurements: dict[str, Measurement]
    checks: dict[str, int]
    info: dict[str, Any]


def webhook_secret(settings: Settings) -> str:
    """The Stripe endpoint secret the API verifies with, resolved as the API resolves it."""
    return (
        provider_for(settings)
        .get(
            WEBHOOK_SECRET_NAME,
            value=settings.payments.stripe_webhook_secret,
            file=settings.payments.stripe_webhook_secret_file,
            default=DEV_STRIPE_WEBHOOK_SECRET,
        )
        .reveal()
    )


def slots_for(races_per_s: float, duration_s: float, racers: int) -> int:
    """Slots one phase needs at the rate seen, with room to spare."""
    return max(100, math.ceil(races_per_s * duration_s * SLOT_MARGIN)) + racers


def wait_for_deliveries(
    conn: psycopg.Connection, refs: list[str], expected: int, timeout_s: float
) -> int:
    """Until `expected` events are applied for the payments (or the time is up): the
    provider's deliveries of the approvals trail the phase by a little."""
    stop = time.monotonic() + timeout_s
    while True:
        seen = cast_.applied_events(conn, refs) if refs else 0
        if seen >= expected or time.monotonic() > stop:
            return seen
        time.sleep(0.25)


def settle(conn: psycopg.Connection, refs: list[str], timeout_s: float) -> float:
    """Until the provider has delivered the phase's approvals and the workers have sent its
    emails (or the time is up); the seconds it took. The next phase starts on a quiet stack,
    not under the backlog of the one before."""
    began = time.monotonic()
    wait_for_deliveries(conn, refs, 2 * len(refs), timeout_s)
    stop = began + timeout_s
    while cast_.queued_jobs(conn, (NOTIFICATIONS_QUEUE,)) and time.monotonic() < stop:
        time.sleep(0.25)
    return time.monotonic() - began


def prepare(
    conn: psycopg.Connection, settings: Settings, cfg: BookingBenchConfig, progress: Progress
) -> cast_.Cast:
    if settings.payments.provider != "stripe":
        raise RuntimeError("the booking benchmark pays through the stack's fake Stripe")
    password = unusable_password_hash(settings)
    landlords = cast_.ensure_members(conn, "landlord", cfg.landlords, password)
    tenants = cast_.ensure_members(conn, "tenant", cfg.tenants, password)
    auth = cast_.bearer_headers(settings, landlords, datetime.now(UTC))
    listings = cast_.ensure_listings(conn, cfg.base_url, landlords, auth, cfg.listings_per_landlord)
    progress(f"cast: {len(landlords)} landlords, {len(listings)} listings, {len(tenants)} tenants")
    return cast_.Cast(landlords, tenants, listings)


@dataclass
class CpuMeter:
    """CPU seconds of the API processes, the job workers and this process since `start`."""

    settings: Settings
    api: dict[int, float] = field(default_factory=dict)
    worker: dict[int, float] = field(default_factory=dict)
    client: float = 0.0

    def start(self) -> CpuMeter:
        self.api = api_cpu_seconds(self.settings)
        self.worker = cpu_seconds(program_pids(self.settings, "worker-").values())
        self.client = time.process_time()
        return self

    def report(self, requests: int, seconds: float) -> dict[str, float]:
        """Per request sent (API and client) and in cores busy (API, workers), as far as
        the processes lived through the phase (a restarted one's counters began again)."""
        api = api_cpu_seconds(self.settings)
        worker = cpu_seconds(self.worker)
        per_request, seconds = max(1, requests) / 1000, max(seconds, 1e-3)
        out = {"client_cpu_ms_per_request": (time.process_time() - self.client) / per_request}
        if api and set(api) == set(self.api):
            spent = sum(api[pid] - t for pid, t in self.api.items())
            out["api_cpu_ms_per_request"] = spent / per_request
            out["api_cpu_cores"] = spent / seconds
        if worker and set(worker) == set(self.worker):
            out["worker_cpu_cores"] = sum(worker[p] - t for p, t in self.worker.items()) / seconds
        return {k: round(v, 3) for k, v in out.items()}


def _race(
    settings: Settings,
    cfg: BookingBenchConfig,
    cast: cast_.Cast,
    slot_ids: list[uuid.UUID],
    duration_s: float,
    rng: random.Random,
    races_per_s: float | None = None,
) -> tuple[Journey, Tally, float, dict[str, float]]:
    """A booking phase over fresh tokens, closed (as fast as the stack answers) or, with
    `races_per_s`, open at that arrival rate; its tally, seconds and CPU figures."""
    journey = Journey(
        cfg.base_url,
        cfg.fake_url,
        cast_.bearer_headers(settings, cast.tenants, datetime.now(UTC)),
        webhook_secret(settings),
    )
    plan = race_plan(slot_ids, len(cast.tenants), cfg.racers, rng)
    pace = None if races_per_s is None else Pace(races_per_s, cfg.racers, rng)
    meter = CpuMeter(settings).start()
    tally, elapsed = asyncio.run(
        booking_phase(journey, plan, concurrency=cfg.concurrency, duration_s=duration_s, pace=pace)
    )
    return journey, tally, elapsed, meter.report(tally.requests(), elapsed)


def races_per_s(tally: Tally, elapsed: float, racers: int) -> float:
    return tally.attempts / max(1, racers) / max(elapsed, 1e-3)


def _slots(
    conn: psycopg.Connection, settings: Settings, cast: cast_.Cast, count: int
) -> list[uuid.UUID]:
    horizon = timedelta(days=settings.viewings.max_days_ahead) - timedelta(hours=1)
    return cast_.add_slots(conn, cast.listings, count, now=datetime.now(UTC), horizon=horizon)


def warm_up(
    conn: psycopg.Connection,
    settings: Settings,
    cfg: BookingBenchConfig,
    cast: cast_.Cast,
    rng: random.Random,
) -> float:
    """The booking phase once, unmeasured; the races per second it managed."""
    slot_ids = _slots(conn, settings, cast, slots_for(GUESS_RACES_PER_S, cfg.warmup_s, cfg.racers))
    try:
        _, tally, elapsed, _ = _race(settings, cfg, cast, slot_ids, cfg.warmup_s, rng)
    finally:
        cast_.retire_slots(conn, slot_ids)
    return races_per_s(tally, elapsed, cfg.racers)


def measured_run(
    conn: psycopg.Connection,
    settings: Settings,
    cfg: BookingBenchConfig,
    cast: cast_.Cast,
    best: float,
    rng: random.Random,
    *,
    sizing: float,
) -> RunResult:
    """The capacity phase (closed; slots for `sizing` races per second), the measured phase
    at `cfg.load` of the best capacity phase so far, `best` or this run's (open), the
    provider's deliveries waited for, the ceilings, the audit of both phases. The best, not
    this run's: a capacity phase slowed by something else on the machine would otherwise
    lower the measured phase's load with it."""
    began = time.monotonic()
    capacity_slots = slots_for(sizing, cfg.capacity_s, cfg.racers)
    slot_ids = _slots(conn, settings, cast, capacity_slots)
    try:
        _, full, full_s, full_cpu = _race(settings, cfg, cast, slot_ids, cfg.capacity_s, rng)
        capacity = races_per_s(full, full_s, cfg.racers)
        offered = cfg.load * max(best, capacity)
        settled_s = settle(conn, full.refs, cfg.settle_s)
        paced_slots = slots_for(offered, cfg.duration_s, cfg.racers)
        paced_ids = _slots(conn, settings, cast, paced_slots)
        slot_ids += paced_ids
        journey, tally, elapsed, cpu = _race(
            settings, cfg, cast, paced_ids, cfg.duration_s, rng, races_per_s=offered
        )
        refs = full.refs + tally.refs
        delivered = wait_for_deliveries(conn, refs, 2 * len(refs), cfg.settle_s)
        measurements = {op: tally.measurement(op, elapsed) for op in OPS}
        measurements.update({saturated(op): full.measurement(op, full_s) for op in OPS})
        server_errors = tally.server_errors() + full.server_errors()
        for op in CEILINGS:
            before = api_cpu_seconds(settings)
            ceiling, seconds = asyncio.run(
                ceiling_phase(journey, op, concurrency=cfg.concurrency, duration_s=cfg.ceiling_s)
            )
            measurements[op] = with_api_cpu(
                ceiling.measurement(op, seconds), before, api_cpu_seconds(settings)
            )
            server_errors += ceiling.server_errors()
        found = cast_.audit(conn, slot_ids, settings.payments.viewing_fee_cents)
    finally:
        cast_.retire_slots(conn, slot_ids)
    checks = {
        "status_5xx": server_errors,
        "double_bookings": found["double_bookings"],
        "double_charges": found["double_charges"],
        "unconfirmed": found["bookings"] - found["confirmed"],
        "unapplied_events": 2 * len(refs) - delivered,
    }
    info = {
        **cpu,
        "capacity_races_per_s": round(capacity, 2),
        "offered_races_per_s": round(offered, 2),
        "races_per_s": round(races_per_s(tally, elapsed, cfg.racers), 2),
        "capacity": {**phase_info(full, full_s, capacity_slots, cfg.racers), **full_cpu},
        "settled_s": round(settled_s, 1),
        "measured": phase_info(tally, elapsed, paced_slots, cfg.racers),
        "paid": len(refs),
        "provider_events_applied": max(0, delivered - len(refs)),
        "db": found,
    }
    info["wall_s"] = round(time.monotonic() - began, 1)
    return RunResult(measurements, checks, info)


def phase_info(tally: Tally, elapsed: float, slots: int, racers: int) -> dict[str, Any]:
    return {
        "seconds": round(elapsed, 2),
        "slots": slots,
        "races": math.ceil(tally.attempts / max(1, racers)),
        "bookings_201": tally.count("booking_create", 201),
        "bookings_409": tally.count("booking_create", 409),
        "paid": len(tally.refs),
        "webhook_results": dict(tally.webhook_results),
        "approve_errors": tally.approve_errors,
        "ran_out_of_slots": tally.ran_out,
        "statuses": {op: {str(s): n for s, n in c.items()} for op, c in tally.statuses.items()},
    }


def verdicts(
    median: dict[str, dict[str, float]], checks: Mapping[str, int], requests: Mapping[str, int]
) -> dict[str, Any]:
    return judging.verdicts(median, checks, requests, targets=TARGETS, check_names=CHECKS)


def table(median: dict[str, dict[str, float]], verdict: dict[str, Any]) -> str:
    return judging.table(
        median, verdict, ops=OPS, ceilings=CEILINGS, rate="rps", width=16, checked_over="runs"
    )


def run_line(number: str, info: dict[str, Any]) -> str:
    """A run in a line: the capacity, the measured phase's pace, wins and losses, payments,
    the provider's deliveries, the database's count (both phases)."""
    full, measured = info["capacity"], info["measured"]
    notes = []
    errors = full["approve_errors"] + measured["approve_errors"]
    if errors:
        notes.append(f"{errors} approvals failed")
    for name, phase in (("capacity", full), ("measured", measured)):
        if phase["ran_out_of_slots"]:
            notes.append(f"the {name} phase ran out of slots")
    webhooks: Counter[str] = Counter(full["webhook_results"]) + Counter(measured["webhook_results"])
    return (
        f"run {number}: capacity {info['capacity_races_per_s']:.1f} races/s"
        f" ({full['races']} in {full['seconds']:.1f} s); measured at"
        f" {info['offered_races_per_s']:.1f} races/s offered, {info['races_per_s']:.1f} run"
        f" ({measured['races']} in {measured['seconds']:.1f} s); 201 x"
        f" {full['bookings_201'] + measured['bookings_201']}, 409 x"
        f" {full['bookings_409'] + measured['bookings_409']}, paid {info['paid']},"
        f" webhooks {dict(webhooks)}, provider events applied"
        f" {info['provider_events_applied']}/{info['paid']}, confirmed"
        f" {info['db']['confirmed']}/{info['db']['bookings']}, ledger charges"
        f" {info['db']['charges']}; {info['wall_s']:.0f} s in all"
        + "".join(f"; {note}" for note in notes)
    )


def run(
    cfg: BookingBenchConfig, settings: Settings, progress: Progress
) -> tuple[dict[str, Any], Path]:
    started, began = datetime.now(UTC), time.monotonic()
    rng = random.Random(cfg.seed)
    runs: list[RunResult] = []
    with urllib.request.urlopen(cfg.base_url + "/readyz", timeout=10) as resp:  # noqa: S310 - the local stack
        progress(f"stack: {resp.read().decode()}")
    with psycopg.connect(settings.db.direct_dsn) as conn:
        cast = prepare(conn, settings, cfg, progress)
        progress(f"set up in {time.monotonic() - began:.1f} s")
        sizing = warm_up(conn, settings, cfg, cast, rng)
        progress(f"warm-up ({cfg.warmup_s:g} s): {sizing:.0f} races/s")
        # Only the capacity phases count: a short warm-up, before the provider's deliveries
        # and the emails catch up, looks faster than the stack can keep up.
        best = 0.0
        for i in range(cfg.runs):
            result = measured_run(conn, settings, cfg, cast, best, rng, sizing=sizing)
            runs.append(result)
            best = max(best, result.info["capacity_races_per_s"])
            sizing = max(sizing, best) * (2 if result.info["capacity"]["ran_out_of_slots"] else 1)
            progress(run_line(f"{i + 1}/{cfg.runs}", result.info))
    median = median_of([r.measurements for r in runs])
    requests: Counter[str] = Counter()
    checks: Counter[str] = Counter()
    for r in runs:
        requests.update({op: m.requests for op, m in r.measurements.items()})
        checks.update(r.checks)
    verdict = verdicts(median, dict(checks), dict(requests))
    info = [r.info for r in runs]
    report: dict[str, Any] = {
        "benchmark": "booking",
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "wall_s": round(time.monotonic() - began, 1),
        "git_sha": code_version(settings),
        "config": {
            "runs": cfg.runs,
            "duration_s": cfg.duration_s,
            "warmup_s": cfg.warmup_s,
            "capacity_s": cfg.capacity_s,
            "load": cfg.load,
            "ceiling_s": cfg.ceiling_s,
            "concurrency": cfg.concurrency,
            "racers_per_slot": cfg.racers,
            "tenants": cfg.tenants,
            "listings": cfg.landlords * cfg.listings_per_landlord,
            "base_url": cfg.base_url,
            "fake_stripe": cfg.fake_url,
            "api_instances": settings.stack.api_instances,
            "viewing_fee_cents": settings.payments.viewing_fee_cents,
        },
        "runs": [
            {
                "measurements": {k: m.as_dict() for k, m in r.measurements.items()},
                "checks": r.checks,
                **r.info,
            }
            for r in runs
        ],
        "median": median,
        "medians_of_runs": {
            key: statistics.median(i[key] for i in info if key in i)
            for key in (
                "capacity_races_per_s",
                "offered_races_per_s",
                "races_per_s",
                "api_cpu_ms_per_request",
                "client_cpu_ms_per_request",
                "api_cpu_cores",
                "worker_cpu_cores",
            )
            if any(key in i for i in info)
        },
        "checks": dict(checks),
        "verdict": verdict,
    }
    cfg.results_dir.mkdir(parents=True, exist_ok=True)
    out = cfg.results_dir / f"{started.strftime('%Y%m%dT%H%M%SZ')}-booking.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    return report, out
