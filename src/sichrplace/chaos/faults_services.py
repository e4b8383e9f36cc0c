"""Faults of the processes around the database: Redis stopped or slowed, an API instance
SIGKILLed or SIGTERMed, the job worker SIGKILLed mid-job."""

from __future__ import annotations

import threading
import time

import psycopg
import redis

from sichrplace.chaos import steps
from sichrplace.chaos.base import Fault, FaultContext, wait_until

# redis-slow: Redis answers nobody for PAUSE_MS out of every PERIOD_S (CLIENT PAUSE ALL).
PAUSE_MS = 300
PERIOD_S = 1.0


def _redis(ctx: FaultContext) -> redis.Redis:
    return redis.Redis(
        host="127.0.0.1",
        port=ctx.settings.stack.redis_port,
        socket_timeout=2,
        socket_connect_timeout=2,
    )


def _stop_redis(ctx: FaultContext) -> None:
    steps.ctl(ctx, "stop", "redis")
    ctx.progress("Redis stopped")


def _start_redis(ctx: FaultContext) -> None:
    steps.start(ctx, "redis")


def _redis_answers(ctx: FaultContext) -> bool:
    with _redis(ctx) as client:
        started = time.monotonic()
        ok = bool(client.ping())
        return ok and time.monotonic() - started < 0.05


def _settle_redis(ctx: FaultContext) -> None:
    steps.wait_running(ctx, "redis")
    wait_until("Redis answers at once", lambda: _redis_answers(ctx), 60)
    steps.wait_apis_ready(ctx)


def _pause_bursts(ctx: FaultContext) -> None:
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                with _redis(ctx) as client:
                    client.execute_command("CLIENT", "PAUSE", str(PAUSE_MS), "ALL")
            except redis.RedisError:
                pass  # a pause is missed; the next period tries again
            stop.wait(PERIOD_S)

    thread = threading.Thread(target=run, name="chaos-redis-slow", daemon=True)
    ctx.state["redis_slow"] = (stop, thread)
    thread.start()
    ctx.progress(f"Redis pauses {PAUSE_MS} ms of every {PERIOD_S:g} s")


def _end_bursts(ctx: FaultContext) -> None:
    running = ctx.state.pop("redis_slow", None)
    if running is not None:
        stop, thread = running
        stop.set()
        thread.join(5)
    if steps.state(ctx, "redis") == "RUNNING":
        with _redis(ctx) as client:
            client.execute_command("CLIENT", "UNPAUSE")


def _api(ctx: FaultContext) -> str:
    return str(ctx.state.setdefault("program", steps.numbered(ctx, "api")[0]))


def _signal_api(ctx: FaultContext, signal: str) -> None:
    program = _api(ctx)
    ctx.state["pid"] = steps.pid(ctx, program)
    steps.ctl(ctx, "signal", signal, program)
    ctx.progress(f"SIG{signal} to {program} (pid {ctx.state['pid']}); supervisord restarts it")


def _start_api(ctx: FaultContext) -> None:
    steps.start(ctx, *steps.numbered(ctx, "api"))


def _settle_apis(ctx: FaultContext) -> None:
    program = ctx.state.get("program")
    if program is not None and ctx.state.get("pid") is not None:
        wait_until(
            f"{program} running anew",
            lambda: steps.pid(ctx, program) not in (None, ctx.state["pid"]),
            60,
        )
    steps.wait_apis_ready(ctx)


def _worker(ctx: FaultContext) -> str:
    return str(ctx.state.setdefault("program", steps.numbered(ctx, "worker")[0]))


def _kill_worker(ctx: FaultContext) -> None:
    program = _worker(ctx)
    ctx.state["pid"] = steps.pid(ctx, program)
    ctx.state["running_jobs"] = _jobs_of_dead_workers(ctx, stale_s=0)
    steps.ctl(ctx, "signal", "KILL", program)
    ctx.progress(
        f"SIGKILL to {program} (pid {ctx.state['pid']}) with {ctx.state['running_jobs']} "
        "job(s) running"
    )


def _start_workers(ctx: FaultContext) -> None:
    steps.start(ctx, *steps.numbered(ctx, "worker"))


# A live worker beats every heartbeat_interval (2 s): a job whose worker is silent for this
# long belongs to a dead one and waits for the stalled-job recovery.
SILENT_S = 6


def _jobs_of_dead_workers(ctx: FaultContext, stale_s: float = SILENT_S) -> int:
    """Running jobs whose worker is gone or silent (stale_s=0: every running job)."""
    sql = (
        "SELECT count(*) FROM procrastinate_jobs j"
        " LEFT JOIN procrastinate_workers w ON w.id = j.worker_id"
        " WHERE j.status = 'doing' AND (w.id IS NULL"
        " OR w.last_heartbeat < now() - make_interval(secs => %s))"
    )
    with psycopg.connect(ctx.settings.db.direct_dsn, connect_timeout=3, autocommit=True) as conn:
        row = conn.execute(sql, (stale_s,)).fetchone()
    return int(row[0]) if row else 0


def _settle_worker(ctx: FaultContext) -> None:
    program = _worker(ctx)
    wait_until(
        f"{program} running anew",
        lambda: (
            steps.state(ctx, program) == "RUNNING"
            and steps.pid(ctx, program) not in (None, ctx.state.get("pid"))
        ),
        60,
    )
    took = wait_until(
        "the dead worker's jobs recovered (stalled-job recovery)",
        lambda: _jobs_of_dead_workers(ctx) == 0,
        ctx.settings.jobs.stalled_timeout_seconds + 60,
        interval=1.0,
    )
    ctx.progress(f"no job of a dead worker left ({took:.0f}s)")


FAULTS = [
    Fault(
        name="redis-stop",
        description="stop Redis (cache, rate limits, event fan-out); clear starts it",
        inject=_stop_redis,
        clear=_start_redis,
        settle=_settle_redis,
        hold_s=10.0,
        quick=True,
    ),
    Fault(
        name="redis-slow",
        description=f"Redis pauses every client {PAUSE_MS} ms of every {PERIOD_S:g} s "
        "(CLIENT PAUSE ALL in bursts)",
        inject=_pause_bursts,
        clear=_end_bursts,
        settle=_settle_redis,
        hold_s=15.0,
    ),
    Fault(
        name="api-sigkill",
        description="SIGKILL one API instance (its in-flight requests are cut); supervisord "
        "restarts it",
        inject=lambda ctx: _signal_api(ctx, "KILL"),
        clear=_start_api,
        settle=_settle_apis,
        hold_s=5.0,
        quick=True,
    ),
    Fault(
        name="api-sigterm",
        description="SIGTERM one API instance (it drains, then exits); supervisord restarts it",
        inject=lambda ctx: _signal_api(ctx, "TERM"),
        clear=_start_api,
        settle=_settle_apis,
        hold_s=5.0,
    ),
    Fault(
        name="worker-kill",
        description="SIGKILL the job worker while jobs run; supervisord restarts it and the "
        "stalled-job recovery gives its jobs back to the queue",
        inject=_kill_worker,
        clear=_start_workers,
        settle=_settle_worker,
        hold_s=5.0,
        settle_timeout_s=150.0,
    ),
]
