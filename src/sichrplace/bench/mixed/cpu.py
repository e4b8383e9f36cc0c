"""CPU per component while the mixed load runs: what the capacity model (docs/capacity.md)
is built on. Every process of the machine is put in one component by its name (the API
instances, the job workers, Postgres, PgBouncer, Redis, nginx, Locust, the rest); a
component's CPU is the sum of its processes' user + system time between two snapshots.

A process that ends between the snapshots takes its time with it; the mixed load's processes
(Postgres backends behind PgBouncer's pool, the API instances) live through a run, so what is
lost is the odd short-lived helper, counted in no component anyway.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import psutil
import psycopg
import redis

from sichrplace.bench.runner import replica_dsn_parts
from sichrplace.config import Settings

COMPONENTS = ("api", "worker", "postgres", "pgbouncer", "redis", "nginx", "locust", "other")


def component_of(name: str, cmdline: list[str]) -> str:
    line = " ".join(cmdline[:4])
    if "sichrplace serve" in line:
        return "api"
    if "jobs worker" in line:
        return "worker"
    if "locust" in line:
        return "locust"
    for component in ("postgres", "pgbouncer", "nginx"):
        if name.startswith(component):
            return component
    if name.startswith("redis-server"):
        return "redis"
    return "other"


@dataclass(frozen=True)
class Snapshot:
    at: float
    cpu: dict[str, float]  # component -> CPU seconds of its live processes
    by_pid: dict[int, tuple[str, float]]


def snapshot() -> Snapshot:
    by_pid: dict[int, tuple[str, float]] = {}
    for proc in psutil.process_iter(["name", "cmdline", "cpu_times"]):
        times = proc.info["cpu_times"]
        if times is None:
            continue
        component = component_of(proc.info["name"] or "", proc.info["cmdline"] or [])
        by_pid[proc.pid] = (component, times.user + times.system)
    cpu = dict.fromkeys(COMPONENTS, 0.0)
    for component, seconds in by_pid.values():
        cpu[component] += seconds
    return Snapshot(time.monotonic(), cpu, by_pid)


def spent(before: Snapshot, after: Snapshot) -> dict[str, float]:
    """CPU seconds per component between the snapshots (processes alive at both, and the new
    ones' whole time), and the wall seconds under `wall`."""
    out = dict.fromkeys(COMPONENTS, 0.0)
    for pid, (component, seconds) in after.by_pid.items():
        start = before.by_pid.get(pid)
        out[component] += seconds - (start[1] if start and start[0] == component else 0.0)
    out["wall"] = after.at - before.at
    return out


def cores() -> int:
    return os.cpu_count() or 1


def counters(settings: Settings) -> dict[str, float]:
    """Work counted by the servers themselves: transactions on the leader and on the standby
    the API reads from (pg_stat_database), commands Redis processed (INFO stats)."""
    out: dict[str, float] = {}
    sql = "SELECT sum(xact_commit + xact_rollback) FROM pg_stat_database"
    for name, kwargs in (
        ("pg_primary_xacts", {"conninfo": settings.db.direct_dsn}),
        ("pg_replica_xacts", replica_dsn_parts(settings)),
    ):
        try:
            with psycopg.connect(**kwargs, connect_timeout=3) as conn:  # type: ignore[arg-type]
                row = conn.execute(sql).fetchone()
                out[name] = float(row[0]) if row and row[0] is not None else 0.0
        except psycopg.Error:
            out[name] = float("nan")
    client = redis.Redis.from_url(settings.redis.url, socket_timeout=3)
    try:
        out["redis_commands"] = float(client.info("stats")["total_commands_processed"])
    except redis.RedisError:
        out["redis_commands"] = float("nan")
    finally:
        client.close()
    return out
