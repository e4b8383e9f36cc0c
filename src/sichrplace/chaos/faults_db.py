"""Faults of the database tier: the Patroni leader killed, the standby stopped or lagging,
PgBouncer restarted."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg

from sichrplace.chaos import steps
from sichrplace.chaos.base import Fault, FaultContext, FaultError, wait_until
from sichrplace.stack.ha import patroni, routing
from sichrplace.stack.ha.config import node_index, patroni_program
from sichrplace.stack.ha.config import ports as ha_ports
from sichrplace.stack.layout import NODES


def _cluster(ctx: FaultContext) -> patroni.Cluster:
    found = patroni.cluster(ctx.settings)
    if found is None:
        raise FaultError("no Patroni node answers")
    return found


def _standby(ctx: FaultContext) -> str:
    found = _cluster(ctx)
    name = found.sync_standby or next((m.name for m in found.standbys), None)
    if name is None:
        raise FaultError(f"no standby to break; cluster: {found}")
    return name


def _whole(found: patroni.Cluster) -> bool:
    """A leader and a streaming synchronous standby, every node a member again."""
    return (
        found.leader is not None
        and found.sync_standby is not None
        and len(found.members) == len(NODES)
        and all(m.state in ("running", "streaming") for m in found.members)
    )


def _settle_cluster(ctx: FaultContext) -> None:
    timeout = 150.0
    found = patroni.wait_for(ctx.settings, "leader and sync standby", _whole, timeout)
    assert found.leader is not None
    try:
        routing.wait_pointed(ctx.settings, ctx.layout, found.leader, 30)
    except TimeoutError as exc:
        raise FaultError(str(exc)) from exc
    standby = found.sync_standby
    assert standby is not None
    want = ha_ports(ctx.settings).node(node_index(standby))
    wait_until(
        f"PgBouncer's read database at {standby}",
        lambda: (
            routing.pgbouncer_ports(ctx.settings, ctx.layout).get(ctx.settings.db.replica_name)
            == want
        ),
        30,
    )
    ctx.progress(f"cluster whole: {found.leader} leads, {standby} sync standby")
    steps.wait_apis_ready(ctx)


def _start_nodes(ctx: FaultContext) -> None:
    steps.start(ctx, *(patroni_program(i) for i in NODES))


def _kill_leader(ctx: FaultContext) -> None:
    leader = _cluster(ctx).leader
    if leader is None:
        raise FaultError("no leader to kill")
    ctx.state["node"] = leader
    patroni_pid, postmaster = patroni.crash(ctx.settings, ctx.layout, leader)
    ctx.progress(f"SIGKILLed {leader}: Patroni {patroni_pid}, Postgres {postmaster}")


def _stop_standby(ctx: FaultContext) -> None:
    standby = _standby(ctx)
    ctx.state["node"] = standby
    steps.ctl(ctx, "stop", patroni_program(node_index(standby)))
    ctx.progress(f"stopped {standby} (standby)")


def _maintenance(ctx: FaultContext, on: bool) -> None:
    """Patroni's maintenance mode: on PostgreSQL 14+ Patroni resumes a paused replay within a
    loop (it takes the pause for one caused by a parameter change), unless it is paused."""
    patroni.patch_config(ctx.settings, ctx.layout, {"pause": on})
    wait_until(
        f"Patroni maintenance mode {'on' if on else 'off'}",
        lambda: all(_node_paused(ctx, i) is on for i in NODES if _node_answers(ctx, i)),
        20,
    )


def _node_status(ctx: FaultContext, index: int) -> dict[str, Any] | None:
    try:
        resp = httpx.get(
            f"http://127.0.0.1:{ha_ports(ctx.settings).patroni(index)}/patroni", timeout=2
        )
    except httpx.HTTPError:
        return None
    body: dict[str, Any] = resp.json()
    return body


def _node_answers(ctx: FaultContext, index: int) -> bool:
    return _node_status(ctx, index) is not None


def _node_paused(ctx: FaultContext, index: int) -> bool:
    return bool((_node_status(ctx, index) or {}).get("pause", False))


def _pause_replay(ctx: FaultContext) -> None:
    standby = _standby(ctx)
    ctx.state["node"] = standby
    _maintenance(ctx, True)
    steps.node_query(ctx, standby, "SELECT pg_wal_replay_pause()")
    ctx.progress(f"WAL replay paused on {standby} (Patroni in maintenance mode meanwhile)")


def _resume_replay(ctx: FaultContext) -> None:
    for member in _cluster(ctx).standbys:
        try:
            if steps.node_query(ctx, member.name, "SELECT pg_is_in_recovery()"):
                steps.node_query(ctx, member.name, "SELECT pg_wal_replay_resume()")
        except psycopg.OperationalError as exc:
            raise FaultError(f"resume replay on {member.name}: {exc}") from exc
    # The stack never runs in maintenance mode otherwise: leaving it is always right.
    _maintenance(ctx, False)


def _caught_up(ctx: FaultContext) -> None:
    standby = ctx.state.get("node") or _standby(ctx)
    sql = (
        "SELECT NOT pg_is_wal_replay_paused()"
        " AND pg_last_wal_replay_lsn() >= pg_last_wal_receive_lsn()"
    )
    took = wait_until(
        f"{standby} replayed what it received",
        lambda: bool(steps.node_query(ctx, standby, sql)),
        60,
    )
    ctx.progress(f"{standby} caught up in {took:.1f}s")
    _settle_cluster(ctx)


def _restart_pgbouncer(ctx: FaultContext) -> None:
    steps.ctl(ctx, "restart", "pgbouncer")
    ctx.progress("PgBouncer restarted")


def _start_pgbouncer(ctx: FaultContext) -> None:
    steps.start(ctx, "pgbouncer")


def _pgbouncer_serves(ctx: FaultContext) -> bool:
    db = ctx.settings.db
    conninfo = (
        f"host=127.0.0.1 port={ctx.settings.stack.pgbouncer_port} dbname={db.name}"
        f" user={db.user} password={db.password.get_secret_value()}"
    )
    with psycopg.connect(conninfo, connect_timeout=2, prepare_threshold=None) as conn:
        return conn.execute("SELECT 1").fetchone() == (1,)


def _settle_pgbouncer(ctx: FaultContext) -> None:
    steps.wait_running(ctx, "pgbouncer")
    wait_until("a query through PgBouncer", lambda: _pgbouncer_serves(ctx), 60)
    steps.wait_apis_ready(ctx)


FAULTS = [
    Fault(
        name="primary-kill",
        description="SIGKILL the Patroni leader node (Patroni and Postgres); the synchronous "
        "standby takes over; clear starts the node again, it rejoins as the standby",
        inject=_kill_leader,
        clear=_start_nodes,
        settle=_settle_cluster,
        hold_s=25.0,
        settle_timeout_s=240.0,
    ),
    Fault(
        name="replica-stop",
        description="stop the standby node (Patroni stops its Postgres); clear starts it again",
        inject=_stop_standby,
        clear=_start_nodes,
        settle=_settle_cluster,
        hold_s=15.0,
        settle_timeout_s=240.0,
    ),
    Fault(
        name="replica-lag",
        description="pause WAL replay on the standby (pg_wal_replay_pause, Patroni in "
        "maintenance mode meanwhile: no failover during it); clear resumes it",
        inject=_pause_replay,
        clear=_resume_replay,
        settle=_caught_up,
        hold_s=15.0,
        quick=True,
    ),
    Fault(
        name="pgbouncer-restart",
        description="restart PgBouncer (its clients' connections drop)",
        inject=_restart_pgbouncer,
        clear=_start_pgbouncer,
        settle=_settle_pgbouncer,
        hold_s=5.0,
        quick=True,
    ),
]
