"""`sichrplace bench messaging`: many event streams held open through nginx across the API
instances while messages are sent; send and send-to-receive latencies against the targets of
issue 17, ceilings from the same run, and every message counted on every stream that must
carry it (nothing lost, nothing twice), then a reconnect with Last-Event-ID per user checked
against what the streams received live.

A bench: the cast (`messaging_setup.py`), the streams opened in a process of their own
(`messaging_streams.py`), a warm-up, then per run a capacity phase (flat out), the measured
phase at a share of the best capacity (open model), and the ceilings; after the runs the
replay check, the streams closed, and every conversation marked read. The report is the
median of the runs; the checks add up over all phases.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import re
import statistics
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from sichrplace.bench import booking_setup, judging, messaging_setup
from sichrplace.bench.load import Measurement, _percentile
from sichrplace.bench.messaging_load import (
    Delivery,
    Pace,
    Plan,
    Send,
    Senders,
    account,
    ceiling_phase,
    delivery_measurement,
    pubsub_phase,
    send_measurement,
    send_phase,
)
from sichrplace.bench.messaging_streams import Holder, raise_nofile
from sichrplace.bench.runner import (
    api_cpu_seconds,
    code_version,
    cpu_seconds,
    median_of,
    program_pids,
    with_api_cpu,
)
from sichrplace.config import PROJECT_ROOT, Settings
from sichrplace.seeding.loader import unusable_password_hash

Progress = Callable[[str], None]

OPS = ("send", "send_to_receive")
CEILINGS = ("healthz", "me", "pubsub")
# operation -> (its ceiling, p95 target in ms): issue 17's acceptance.
TARGETS: dict[str, tuple[str, float]] = {
    "send": ("me", 50.0),
    "send_to_receive": ("pubsub", 250.0),
}
# Counted over all phases (warm-up included); each must be zero.
CHECKS = (
    "lost",  # (stream, message) pairs that never arrived
    "duplicated",  # arrivals of a (stream, message) pair beyond the first
    "stream_gaps",  # ids a held stream skipped (n, then more than n + 1)
    "stream_repeats",  # ids a held stream sent again
    "replay_missing",  # events the Last-Event-ID replay has that a held stream lacked
    "replay_extra",  # events a held stream had that the replay lacks
    "replay_incomplete",  # replays that did not reach the user's newest event in time
    "replay_gaps",  # replays whose ids did not follow each other from Last-Event-ID + 1
    "streams_not_opened",
    "send_errors",  # sends answered other than 201, or not at all
    "status_5xx",
)
OPEN_CONCURRENCY = 50  # streams being opened at a time
_STREAMS_OPEN = re.compile(rb"^sichrplace_event_streams_open\s+([0-9.eE+-]+)$", re.M)


@dataclass
class MessagingBenchConfig:
    runs: int = 3
    duration_s: float = 20.0
    connections: int = 1000  # event streams held open
    streams_per_user: int = 2
    concurrency: int = 32  # sending connections
    warmup_s: float = 5.0
    capacity_s: float = 10.0
    load: float = 0.5
    rate: float | None = None  # messages per second; instead of load x capacity
    ceiling_s: float = 5.0
    settle_s: float = 15.0  # longest wait for a phase's events after its last answer
    base_url: str = "http://127.0.0.1:58080"
    seed: int = 1
    results_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "bench" / "results")

    @property
    def users(self) -> int:
        """Users holding the streams: an even number (pairs), each with at most
        `streams_per_user` streams."""
        return 2 * max(1, math.ceil(self.connections / self.streams_per_user / 2))


def stream_owners(users: int, connections: int) -> list[int]:
    """The user of each stream: user i % users, so a user's streams are opened far apart in
    time (nginx's least_conn then tends to put them on different instances)."""
    return [i % users for i in range(connections)]


def streams_by_user(owners: Sequence[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for stream, user in enumerate(owners):
        out.setdefault(user, []).append(stream)
    return out


def instance_streams(settings: Settings) -> dict[str, float]:
    """Open event streams per API instance, from each instance's own /metrics."""
    out: dict[str, float] = {}
    for i in range(settings.stack.api_instances):
        port = settings.stack.api_base_port + i
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                found = _STREAMS_OPEN.search(r.read())
        except OSError:
            continue
        if found:
            out[f"api-{i + 1}"] = float(found.group(1))
    return out


def machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy so far (all cores, from /proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


@dataclass
class CpuMeter:
    """CPU seconds of the API processes, the job workers, the stream holders, this process
    (the senders) and the whole machine, from `start` on."""

    settings: Settings
    holder_pid: int
    api: dict[int, float] = field(default_factory=dict)
    worker: dict[int, float] = field(default_factory=dict)
    holder: float = 0.0
    sender: float = 0.0
    machine: float = 0.0

    def _holder(self) -> float:
        return sum(cpu_seconds([self.holder_pid]).values())

    def start(self) -> CpuMeter:
        self.api = api_cpu_seconds(self.settings)
        self.worker = cpu_seconds(program_pids(self.settings, "worker-").values())
        self.holder = self._holder()
        self.sender = time.process_time()
        self.machine = machine_busy_s()
        return self

    def report(self, messages: int, seconds: float) -> dict[str, float]:
        """Cores busy over the phase, and CPU per message sent (API, senders, holders)."""
        seconds = max(seconds, 1e-3)
        per = max(1, messages) / 1000
        holder = self._holder() - self.holder
        sender = time.process_time() - self.sender
        out = {
            "machine_cores": (machine_busy_s() - self.machine) / seconds,
            "holder_cores": holder / seconds,
            "sender_cores": sender / seconds,
            "holder_cpu_ms_per_message": holder / per,
            "sender_cpu_ms_per_message": sender / per,
        }
        api = api_cpu_seconds(self.settings)
        if api and set(api) == set(self.api):
            spent = sum(api[pid] - t for pid, t in self.api.items())
            out["api_cores"] = spent / seconds
            out["api_cpu_ms_per_message"] = spent / per
        worker = cpu_seconds(self.worker)
        if worker and set(worker) == set(self.worker):
            out["worker_cores"] = sum(worker[p] - t for p, t in self.worker.items()) / seconds
        return {k: round(v, 3) for k, v in out.items()}


@dataclass
class Bench:
    """What every phase needs: the settings, the cast, the holders and the sending plan."""

    cfg: MessagingBenchConfig
    settings: Settings
    cast: messaging_setup.Cast
    holder: Holder
    streams_of: dict[int, list[int]]
    plan: Iterator[tuple[int, int, uuid.UUID]]
    rng: random.Random
    _auth: list[str] = field(default_factory=list)
    _signed_at: float = -math.inf

    def auth(self) -> list[str]:
        """Each user's Authorization header, signed afresh once the last ones are older than
        a third of their lifetime."""
        if time.monotonic() - self._signed_at > self.settings.auth.access_token_ttl_seconds / 3:
            now = datetime.now(UTC)
            self._auth = booking_setup.bearer_headers(self.settings, self.cast.users, now)
            self._signed_at = time.monotonic()
        return self._auth


@dataclass
class Phase:
    sends: list[Send]
    seconds: float
    delivery: Delivery
    cpu: dict[str, float]
    timed_out: bool

    def ok(self) -> int:
        return sum(1 for s in self.sends if s.status == 201)

    def rate(self) -> float:
        return self.ok() / max(self.seconds, 1e-3)

    def checks(self) -> dict[str, int]:
        return {
            "lost": self.delivery.lost,
            "duplicated": self.delivery.duplicated,
            "send_errors": sum(1 for s in self.sends if s.status != 201),
            "status_5xx": sum(1 for s in self.sends if s.status >= 500),
        }

    def info(self) -> dict[str, Any]:
        d = self.delivery
        statuses = Counter(s.status for s in self.sends)
        return {
            "seconds": round(self.seconds, 2),
            "sent": len(self.sends),
            "messages_per_s": round(self.rate(), 2),
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "expected_arrivals": d.expected,
            "arrivals": d.received,
            "lost": d.lost,
            "messages_lost": d.messages_lost,
            "duplicated": d.duplicated,
            "strays": d.strays,
            "first_stream_p95_ms": round(_pct(d.first_ms, 95), 3),
            "after_answer_p50_ms": round(_pct(d.after_answer_ms, 50), 3),
            "after_answer_p95_ms": round(_pct(d.after_answer_ms, 95), 3),
            "waited_out": self.timed_out,
            **self.cpu,
        }


def _pct(values: Sequence[float], pct: float) -> float:
    return _percentile(sorted(values), pct)


def run_phase(bench: Bench, duration_s: float, rate: float | None) -> Phase:
    """Send for `duration_s` (flat out, or at `rate` messages per second), then wait for the
    phase's events on the streams and account for them."""
    cfg = bench.cfg
    senders = Senders(cfg.base_url, bench.auth())
    pace = None if rate is None else Pace(rate, bench.rng)
    meter = CpuMeter(bench.settings, bench.holder.pid).start()
    sends, seconds = asyncio.run(
        send_phase(
            senders, bench.plan, concurrency=cfg.concurrency, duration_s=duration_s, pace=pace
        )
    )
    cpu = meter.report(len(sends), seconds)
    expected = sum(
        len(bench.streams_of.get(s.sender, ())) + len(bench.streams_of.get(s.recipient, ()))
        for s in sends
        if s.status == 201
    )
    got = bench.holder.wait(expected, cfg.settle_s, 0.5)
    delivery = account(sends, got["receipts"], bench.streams_of)
    return Phase(sends, seconds, delivery, cpu, bool(got["timed_out"]))


@dataclass
class RunResult:
    measurements: dict[str, Measurement]
    checks: dict[str, int]
    info: dict[str, Any]


def measured_run(bench: Bench, best: float) -> RunResult:
    """The capacity phase (flat out), the measured phase at `load` x the best capacity so
    far (or at `rate`), the ceilings."""
    cfg = bench.cfg
    began = time.monotonic()
    full = run_phase(bench, cfg.capacity_s, None)
    capacity = full.rate()
    offered = cfg.rate if cfg.rate else cfg.load * max(best, capacity)
    paced = run_phase(bench, cfg.duration_s, offered)
    measurements = {
        "send": send_measurement(paced.sends, paced.seconds),
        "send_to_receive": delivery_measurement(paced.delivery, paced.seconds),
        "send_at_capacity": send_measurement(full.sends, full.seconds),
        "send_to_receive_at_capacity": delivery_measurement(full.delivery, full.seconds),
    }
    server_errors = 0
    auth = bench.auth()[: len(bench.cast.pairs)]  # the tenants
    for op in ("healthz", "me"):
        before = api_cpu_seconds(bench.settings)
        m, errors = asyncio.run(
            ceiling_phase(
                cfg.base_url, op, auth, concurrency=cfg.concurrency, duration_s=cfg.ceiling_s
            )
        )
        measurements[op] = with_api_cpu(m, before, api_cpu_seconds(bench.settings))
        server_errors += errors
    measurements["pubsub"] = asyncio.run(
        pubsub_phase(bench.settings.redis.url, duration_s=cfg.ceiling_s)
    )
    checks: Counter[str] = Counter(full.checks())
    checks.update(paced.checks())
    checks["status_5xx"] += server_errors
    info = {
        "capacity_messages_per_s": round(capacity, 2),
        "offered_messages_per_s": round(offered, 2),
        "messages_per_s": round(paced.rate(), 2),
        "capacity": full.info(),
        "measured": paced.info(),
        "wall_s": round(time.monotonic() - began, 1),
    }
    return RunResult(measurements, dict(checks), info)


def verdicts(
    median: dict[str, dict[str, float]], checks: Mapping[str, int], requests: Mapping[str, int]
) -> dict[str, Any]:
    return judging.verdicts(median, checks, requests, targets=TARGETS, check_names=CHECKS)


def table(median: dict[str, dict[str, float]], verdict: dict[str, Any]) -> str:
    return judging.table(
        median, verdict, ops=OPS, ceilings=CEILINGS, rate="rate/s", width=28, checked_over="phases"
    )


def run_line(number: str, info: dict[str, Any]) -> str:
    full, measured = info["capacity"], info["measured"]
    cpu = measured
    return (
        f"run {number}: capacity {info['capacity_messages_per_s']:.1f} messages/s"
        f" ({full['sent']} in {full['seconds']:.1f} s); measured at"
        f" {info['offered_messages_per_s']:.1f}/s offered, {info['messages_per_s']:.1f}/s sent"
        f" ({measured['sent']} in {measured['seconds']:.1f} s, statuses {measured['statuses']});"
        f" arrivals {measured['arrivals']}/{measured['expected_arrivals']}, lost"
        f" {full['lost'] + measured['lost']}, duplicated"
        f" {full['duplicated'] + measured['duplicated']}; cores: machine"
        f" {cpu['machine_cores']:.2f}, API {cpu.get('api_cores', 0):.2f}, holders"
        f" {cpu['holder_cores']:.2f}, senders {cpu['sender_cores']:.2f};"
        f" {info['wall_s']:.0f} s in all"
    )


def _open_streams(
    bench: Bench, owners: Sequence[int], progress: Progress
) -> tuple[dict[str, Any], dict[str, float]]:
    auth = bench.auth()
    opened = bench.holder.open([(user, auth[user]) for user in owners], OPEN_CONCURRENCY)
    # The instances' gauges settle a moment after the last stream's answer.
    time.sleep(0.5)
    spread = instance_streams(bench.settings)
    progress(
        f"streams: {opened['opened']} open of {len(owners)} in {opened['seconds']:.1f} s"
        f" ({opened['failed']} failed); per instance {spread}"
    )
    return opened, spread


def run(
    cfg: MessagingBenchConfig, settings: Settings, progress: Progress
) -> tuple[dict[str, Any], Path]:
    started, began = datetime.now(UTC), time.monotonic()
    nofile = raise_nofile()
    if nofile < cfg.connections + 256:
        raise RuntimeError(
            f"{cfg.connections} streams need more open files than this process may have"
            f" ({nofile}; raise the hard limit: ulimit -Hn)"
        )
    with urllib.request.urlopen(cfg.base_url + "/readyz", timeout=10) as resp:  # noqa: S310 - the local stack
        progress(f"stack: {resp.read().decode()}")
    rng = random.Random(cfg.seed)
    runs: list[RunResult] = []
    with psycopg.connect(settings.db.direct_dsn) as conn:

        def sign(members: Sequence[booking_setup.Member]) -> list[str]:
            return booking_setup.bearer_headers(settings, members, datetime.now(UTC))

        cast = messaging_setup.ensure_cast(
            conn, cfg.base_url, cfg.users // 2, unusable_password_hash(settings), sign
        )
        progress(
            f"cast: {len(cast.pairs)} conversations between {len(cast.users)} users"
            f" in {time.monotonic() - began:.1f} s"
        )
        owners = stream_owners(len(cast.users), cfg.connections)
        holder = Holder(cfg.base_url)
        try:
            bench = Bench(
                cfg,
                settings,
                cast,
                holder,
                streams_by_user(owners),
                Plan(cast.pairs).senders(rng),
                rng,
            )
            opened, spread = _open_streams(bench, owners, progress)
            base = messaging_setup.last_seqs(conn, cast.users)
            checks: Counter[str] = Counter()
            checks["streams_not_opened"] = int(opened["failed"])
            warm = run_phase(bench, cfg.warmup_s, None)
            checks.update(warm.checks())
            progress(
                f"warm-up ({cfg.warmup_s:g} s): {warm.rate():.0f} messages/s,"
                f" arrivals {warm.delivery.received}/{warm.delivery.expected}"
            )
            best = 0.0
            for i in range(cfg.runs):
                result = measured_run(bench, best)
                runs.append(result)
                checks.update(result.checks)
                best = max(best, result.info["capacity_messages_per_s"])
                progress(run_line(f"{i + 1}/{cfg.runs}", result.info))
            spread_end = instance_streams(settings)
            until = messaging_setup.last_seqs(conn, cast.users)
            auth = bench.auth()
            replay = holder.replay(
                [(n, auth[n], base[u.id], until[u.id]) for n, u in enumerate(cast.users)],
                OPEN_CONCURRENCY,
                cfg.settle_s,
            )
            progress(
                f"replay with Last-Event-ID: {replay['users']} users, {replay['events']} events;"
                f" missing {replay['missing']}, extra {replay['extra']}, incomplete"
                f" {replay['incomplete']}"
            )
            checks["replay_missing"] += replay["missing"]
            checks["replay_extra"] += replay["extra"]
            checks["replay_incomplete"] += replay["incomplete"]
            checks["replay_gaps"] += replay["replay_gaps"]
        finally:
            held = holder.close()
        checks["stream_gaps"] += held["gaps"]
        checks["stream_repeats"] += held["repeats"]
        unread = asyncio.run(
            messaging_setup.mark_all_read(
                cfg.base_url,
                cast,
                bench.auth(),
                messaging_setup.newest_messages(conn, [p.conversation for p in cast.pairs]),
            )
        )
    median = median_of([r.measurements for r in runs])
    requests: Counter[str] = Counter()
    for r in runs:
        requests.update({op: m.requests for op, m in r.measurements.items()})
    verdict = verdicts(median, checks, requests)
    infos = [r.info for r in runs]
    report: dict[str, Any] = {
        "benchmark": "messaging",
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "wall_s": round(time.monotonic() - began, 1),
        "git_sha": code_version(settings),
        "config": {
            "runs": cfg.runs,
            "duration_s": cfg.duration_s,
            "connections": cfg.connections,
            "streams_per_user": cfg.streams_per_user,
            "users": len(cast.users),
            "conversations": len(cast.pairs),
            "concurrency": cfg.concurrency,
            "warmup_s": cfg.warmup_s,
            "capacity_s": cfg.capacity_s,
            "load": cfg.load,
            "rate": cfg.rate,
            "ceiling_s": cfg.ceiling_s,
            "base_url": cfg.base_url,
            "api_instances": settings.stack.api_instances,
            "send_limit_per_user": settings.messaging.send_limit,
            "send_window_s": settings.messaging.send_window_seconds,
            "client_nofile": nofile,
        },
        "streams": {
            "opened": opened,
            "per_instance_after_open": spread,
            "per_instance_at_end": spread_end,
            "holders": held,
        },
        "warmup": warm.info(),
        "runs": [
            {
                "measurements": {k: m.as_dict() for k, m in r.measurements.items()},
                "checks": r.checks,
                **r.info,
            }
            for r in runs
        ],
        "replay": replay,
        "tidy_read_failures": unread,
        "median": median,
        "medians_of_runs": {
            key: statistics.median(i[key] for i in infos)
            for key in ("capacity_messages_per_s", "offered_messages_per_s", "messages_per_s")
        }
        | {
            f"measured_{key}": statistics.median(i["measured"][key] for i in infos)
            for key in (
                "machine_cores",
                "api_cores",
                "worker_cores",
                "holder_cores",
                "sender_cores",
                "api_cpu_ms_per_message",
                "holder_cpu_ms_per_message",
                "sender_cpu_ms_per_message",
                "first_stream_p95_ms",
                "after_answer_p50_ms",
                "after_answer_p95_ms",
            )
            if all(key in i["measured"] for i in infos)
        },
        "checks": dict(checks),
        "verdict": verdict,
    }
    cfg.results_dir.mkdir(parents=True, exist_ok=True)
    out = cfg.results_dir / f"{started.strftime('%Y%m%dT%H%M%SZ')}-messaging.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    return report, out
