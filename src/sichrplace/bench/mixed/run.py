"""Running the mixed load: the cast and plan, Locust as a child process, and what its request
log says (per operation: rate, p50/p95/p99, errors, 5xx; per second: the timeline).

`start_load` returns at once with a `MixedLoad`; `wait()` gives the `MixedResult`. The fault
matrix and the soak run the load this way while they break or watch the stack; `bench mixed`
and the load gate (mixed/bench.py) add the ceilings and the verdict.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg

from sichrplace.bench.load import Measurement
from sichrplace.bench.mixed import cast as cast_
from sichrplace.bench.mixed.ops import (
    EXPECT,
    GROUPS,
    LISTENED_PAIRS,
    MIX,
    THIRD_PARTY,
    users_for,
    with_floor,
)
from sichrplace.config import Settings

Progress = Callable[[str], None]
LOCUSTFILE = Path(__file__).with_name("locustfile.py")
SLOT_MARGIN = 2.0  # slots per expected booking attempt (races and early finishers included)


@dataclass(frozen=True)
class LoadSpec:
    """The load: requests per second of the whole mix, for how long, and its cast's size."""

    rate: float
    duration_s: float
    warmup_s: float = 10.0  # requests started before this are left out of the figures
    listeners: int = 40  # event streams held open
    bookers: int = 40
    landlords: int = 8
    pairs: int = 100
    logins: int = 20
    contracts: int = 40
    only: tuple[str, ...] = ()  # user classes to run (default: the whole mix)
    closed: bool = False  # no think time: each user starts its next task at once
    users: tuple[tuple[str, int], ...] = ()  # user counts that replace the rate's
    min_tasks: float = 0.0  # tasks each user class starts in the measured window, at least


@dataclass(frozen=True)
class Second:
    t: int  # unix seconds
    requests: int
    failures: int  # answers other than expected, and no answer
    status_5xx: int
    no_answer: int
    p95_ms: float


@dataclass
class MixedResult:
    started_at: float
    measured_from: float
    measured_until: float
    endpoints: dict[str, Measurement]
    groups: dict[str, Measurement]  # "ours" (every request to the API) and GROUPS
    status_5xx: dict[str, int]
    no_answer: dict[str, int]
    timeline: list[Second]
    ack_paths: list[Path]
    users: dict[str, int]
    returncode: int
    stderr_tail: str = ""

    @property
    def seconds(self) -> float:
        return max(self.measured_until - self.measured_from, 1e-9)

    def total_rate(self) -> float:
        """Requests per second to our API (the fake provider's not counted)."""
        n = sum(m.requests for name, m in self.endpoints.items() if name not in THIRD_PARTY)
        return round(n / self.seconds, 1)

    def total_5xx(self) -> int:
        return sum(n for name, n in self.status_5xx.items() if name not in THIRD_PARTY)

    def total_no_answer(self) -> int:
        return sum(n for name, n in self.no_answer.items() if name not in THIRD_PARTY)


@dataclass
class MixedLoad:
    spec: LoadSpec
    out_dir: Path
    process: subprocess.Popen[bytes]
    started_at: float
    slots: list[str]
    settings: Settings
    users: dict[str, int] = field(default_factory=dict)
    _result: MixedResult | None = None

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.running():
            self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout_s: float | None = None) -> MixedResult:
        if self._result is None:
            limit = timeout_s or self.spec.duration_s + self.spec.warmup_s + 120
            try:
                self.process.wait(timeout=limit)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            stderr = (self.out_dir / "locust.log").read_text(errors="replace")[-2000:]
            self._result = read_result(
                self.out_dir, self.started_at, self.spec.warmup_s, self.users
            )
            self._result.returncode = self.process.returncode
            self._result.stderr_tail = stderr
            with psycopg.connect(self.settings.db.direct_dsn) as conn:
                cast_.retire(conn, self.slots)
        return self._result


def prepare_plan(
    settings: Settings, spec: LoadSpec, out_dir: Path, progress: Progress
) -> tuple[cast_.Plan, list[str]]:
    """The cast (made when missing), the run's slots and the plan file Locust reads."""
    base_url = f"http://127.0.0.1:{settings.stack.nginx_port}"
    fake_url = f"http://127.0.0.1:{settings.stack.stripe_fake_port}"
    # One stream per person: the event check reads repeats on a user's stream as duplicates.
    listeners = min(spec.listeners, 2 * min(spec.pairs, LISTENED_PAIRS))
    users, pace = users_for(spec.rate, listeners)
    users.update(dict(spec.users))
    if spec.only:
        users = {k: v for k, v in users.items() if k in spec.only}
    if spec.closed:
        pace = dict.fromkeys(pace, 1000.0)
    pace = with_floor(users, pace, spec.min_tasks, spec.duration_s)
    with psycopg.connect(settings.db.direct_dsn) as conn:
        who = cast_.ensure_cast(
            conn,
            settings,
            base_url,
            bookers=spec.bookers,
            landlords=spec.landlords,
            pairs=spec.pairs,
            logins=spec.logins,
        )
        flows = users.get("Booker", 0) * MIX["Booker"].pace * (spec.duration_s + spec.warmup_s)
        slots = cast_.add_run_slots(conn, who, int(flows * SLOT_MARGIN) + 20) if flows else []
    browse = cast_.browse_paths(settings)
    plan = cast_.Plan(
        base_url=base_url,
        fake_url=fake_url,
        acks_dir=str(out_dir),
        people=who.people,
        search=browse["search"],
        facets=browse["facets"],
        suggest=browse["suggest"],
        listings=browse["listings"],
        popular=browse["popular"],
        login_emails=who.login_emails,
        login_password=cast_.MEMBER_PASSWORD,
        pairs=who.pairs,
        bookers=who.bookers,
        slots=slots,
        contracts=cast_.contract_plan(who, spec.contracts),
        users=users,
        pace=pace,
    )
    cast_list = ", ".join(f"{k} {v}" for k, v in users.items())
    progress(f"mixed load: {sum(users.values())} users ({cast_list}), {len(slots)} slots")
    return plan, slots


def start_load(
    settings: Settings, spec: LoadSpec, out_dir: Path, progress: Progress = lambda _: None
) -> MixedLoad:
    """Prepare the cast and start Locust; returns once Locust runs (not when it ends)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plan, slots = prepare_plan(settings, spec, out_dir, progress)
    plan_path = out_dir / "plan.json"
    plan.to_file(plan_path)
    total = sum(plan.users.values())
    locust = shutil.which("locust", path=str(Path(sys.executable).parent)) or "locust"
    cmd = [
        locust,
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--users",
        str(total),
        "--spawn-rate",
        str(max(1.0, total / 3)),  # everyone within ~3 s, inside the warm-up
        "--run-time",
        f"{round(spec.duration_s + spec.warmup_s)}s",
        "--stop-timeout",
        "5",
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--csv",
        str(out_dir / "locust"),
        *[name for name, n in plan.users.items() if n > 0],
    ]
    env = {**os.environ, "SICHRPLACE_MIXED_PLAN": str(plan_path)}
    log = (out_dir / "locust.log").open("wb")
    started = time.time()
    process = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    return MixedLoad(spec, out_dir, process, started, slots, settings, plan.users)


def _rows(paths: Iterable[Path]) -> tuple[list[str], np.ndarray]:
    """Every logged request: names, and (start ms, duration ms, status) as an array."""
    names: list[str] = []
    values: list[tuple[float, float, float]] = []
    for path in paths:
        for line in path.read_text().splitlines():
            parts = line.split(",")
            if len(parts) != 4:
                continue  # a line cut by a kill
            names.append(parts[0])
            values.append((float(parts[1]), float(parts[2]), float(parts[3])))
    return names, np.array(values, dtype=np.float64).reshape(-1, 3)


def _measure(name: str, rows: np.ndarray, seconds: float) -> Measurement:
    durations = np.sort(rows[:, 1])
    statuses = rows[:, 2].astype(int)
    errors = int(np.count_nonzero(~np.isin(statuses, EXPECT.get(name, (200,)))))

    def pct(p: float) -> float:
        return round(float(np.percentile(durations, p)), 2) if len(durations) else 0.0

    return Measurement(
        rps=round(len(rows) / seconds, 2),
        p50_ms=pct(50),
        p95_ms=pct(95),
        p99_ms=pct(99),
        errors=errors,
        requests=len(rows),
    )


def _measure_group(
    members: tuple[str, ...], rows: np.ndarray, by_name: dict[str, list[int]], seconds: float
) -> Measurement:
    """One figure for several operations: their requests together (errors judged each by
    its own expected answers)."""
    parts = [(n, by_name[n]) for n in members if by_name.get(n)]
    if not parts:
        return Measurement(0.0, 0.0, 0.0, 0.0, 0, 0)
    joined = rows[np.concatenate([np.array(idx) for _, idx in parts])]
    whole = _measure("", joined, seconds)
    whole.errors = sum(_measure(n, rows[idx], seconds).errors for n, idx in parts)
    return whole


def read_result(
    out_dir: Path, started_at: float, warmup_s: float, users: dict[str, int]
) -> MixedResult:
    """The figures of a load's request log (the requests after the warm-up)."""
    names, rows = _rows(sorted(out_dir.glob("requests-*.csv")))
    ends = rows[:, 0] + rows[:, 1] if len(rows) else np.zeros(0)
    first = float(rows[:, 0].min()) / 1000 if len(rows) else started_at
    measured_from = max(started_at, first) + warmup_s
    measured_until = float(ends.max()) / 1000 if len(rows) else measured_from
    keep = rows[:, 0] >= measured_from * 1000 if len(rows) else np.zeros(0, dtype=bool)
    by_name: dict[str, list[int]] = defaultdict(list)
    for i, name in enumerate(names):
        if keep[i]:
            by_name[name].append(i)
    seconds = max(measured_until - measured_from, 1e-9)
    endpoints = {n: _measure(n, rows[idx], seconds) for n, idx in sorted(by_name.items())}
    groups = {
        group: _measure_group(members, rows, by_name, seconds)
        for group, members in {
            "ours": tuple(n for n in by_name if n not in THIRD_PARTY),
            **GROUPS,
        }.items()
    }
    status_5xx = {
        n: int(np.count_nonzero(rows[idx, 2] >= 500)) for n, idx in sorted(by_name.items())
    }
    no_answer = {n: int(np.count_nonzero(rows[idx, 2] == 0)) for n, idx in sorted(by_name.items())}
    return MixedResult(
        started_at=started_at,
        measured_from=measured_from,
        measured_until=measured_until,
        endpoints=endpoints,
        groups=groups,
        status_5xx=status_5xx,
        no_answer=no_answer,
        timeline=timeline(names, rows),
        ack_paths=sorted(out_dir.glob("acks-*.jsonl")),
        users=users,
        returncode=0,
    )


def timeline(names: list[str], rows: np.ndarray) -> list[Second]:
    """Per second of the whole log (warm-up included): requests, failures, 5xx and p95 of the
    requests that started in it; the fake provider's requests left out."""
    ours = np.array([n not in THIRD_PARTY for n in names], dtype=bool)
    bad = np.array(
        [int(s) not in EXPECT.get(n, (200,)) for n, s in zip(names, rows[:, 2], strict=True)],
        dtype=bool,
    )
    out: list[Second] = []
    if not len(rows):
        return out
    seconds = (rows[:, 0] // 1000).astype(np.int64)
    for t in range(int(seconds.min()), int(seconds.max()) + 1):
        mask = (seconds == t) & ours
        durations = rows[mask, 1]
        out.append(
            Second(
                t=t,
                requests=int(mask.sum()),
                failures=int((mask & bad).sum()),
                status_5xx=int((mask & (rows[:, 2] >= 500)).sum()),
                no_answer=int((mask & (rows[:, 2] == 0)).sum()),
                p95_ms=round(float(np.percentile(durations, 95)), 2) if len(durations) else 0.0,
            )
        )
    return out


def median_rate(results: list[MixedResult]) -> float:
    return statistics.median(r.total_rate() for r in results)
