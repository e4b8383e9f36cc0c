"""Talk to the stack's Patroni nodes (REST API) and drive a switchover, a failover or a crash.

A switchover is planned: PgBouncer pauses (in-flight transactions finish, new ones wait),
Patroni demotes the leader and promotes the synchronous standby, HAProxy sees the new leader,
PgBouncer resumes; clients see a pause, not an error. A failover is what happens when the
leader is gone (Patroni does it alone after the leader key's TTL); `failover()` asks for one
by hand, `crash()` makes one happen the hard way (both processes of a node SIGKILLed).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg

from sichrplace.config import Settings
from sichrplace.stack import supervisor
from sichrplace.stack.ha import routing
from sichrplace.stack.ha.config import node_index, node_name, patroni_program, ports
from sichrplace.stack.layout import NODES, Layout, postmaster_pid
from sichrplace.stack.render import stack_secrets


class HaError(RuntimeError):
    """A Patroni operation failed or did not finish in time; the text says which."""


@dataclass(frozen=True)
class Member:
    name: str
    role: str  # leader, sync_standby, replica
    state: str  # running, streaming, stopped, starting, ...
    timeline: int | None
    lag_bytes: int | None


@dataclass(frozen=True)
class Cluster:
    members: tuple[Member, ...]

    @property
    def leader(self) -> str | None:
        for member in self.members:
            if member.role == "leader" and member.state == "running":
                return member.name
        return None

    @property
    def standbys(self) -> list[Member]:
        return [m for m in self.members if m.role != "leader"]

    @property
    def sync_standby(self) -> str | None:
        for member in self.members:
            if member.role == "sync_standby" and member.state in ("running", "streaming"):
                return member.name
        return None


def _url(settings: Settings, index: int, path: str) -> str:
    return f"http://127.0.0.1:{ports(settings).patroni(index)}{path}"


def _auth(layout: Layout) -> tuple[str, str]:
    return ("patroni", stack_secrets(layout)["PATRONI_API_PASSWORD"])


def cluster(settings: Settings) -> Cluster | None:
    """What any reachable node says about the cluster (None: no node answers)."""
    for index in NODES:
        try:
            resp = httpx.get(_url(settings, index, "/cluster"), timeout=2)
        except httpx.HTTPError:
            continue
        if resp.status_code == 200:
            return _parse_cluster(resp.json())
    return None


def _parse_cluster(body: dict[str, Any]) -> Cluster:
    members = []
    for raw in body.get("members", []):
        lag = raw.get("lag")
        members.append(
            Member(
                name=str(raw["name"]),
                role=str(raw.get("role", "")),
                state=str(raw.get("state", "")),
                timeline=raw.get("timeline"),
                lag_bytes=lag if isinstance(lag, int) else None,
            )
        )
    return Cluster(tuple(sorted(members, key=lambda m: m.name)))


def role_of(settings: Settings, index: int) -> str | None:
    """`primary`, `replica` or None (the node's Patroni does not answer or is unhealthy)."""
    for role in ("primary", "replica"):
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(_url(settings, index, f"/{role}"), timeout=2).status_code == 200:
                return role
    return None


def wait_for(
    settings: Settings,
    what: str,
    ready: Any,
    timeout: float,
) -> Cluster:
    """Poll the cluster until `ready(cluster)` is true."""
    deadline = time.monotonic() + timeout
    last: Cluster | None = None
    while time.monotonic() < deadline:
        last = cluster(settings)
        if last is not None and ready(last):
            return last
        time.sleep(0.3)
    raise HaError(f"{what} not reached within {timeout:.0f}s; cluster: {last}")


def wait_leader(settings: Settings, timeout: float = 90) -> str:
    found = wait_for(settings, "a running leader", lambda c: c.leader is not None, timeout)
    assert found.leader is not None
    return found.leader


def wait_sync_standby(settings: Settings, timeout: float = 120) -> Cluster:
    """Until a standby streams and is the synchronous one (writes are on two nodes)."""
    return wait_for(
        settings,
        "a streaming synchronous standby",
        lambda c: c.leader is not None and c.sync_standby is not None,
        timeout,
    )


def patch_config(settings: Settings, layout: Layout, changes: dict[str, Any]) -> None:
    """Merge `changes` into Patroni's dynamic config (etcd) through the leader."""
    leader = wait_leader(settings)
    resp = httpx.patch(
        _url(settings, node_index(leader), "/config"), json=changes, auth=_auth(layout), timeout=10
    )
    if resp.status_code != 200:
        raise HaError(f"PATCH /config: {resp.status_code} {resp.text}")


def reload_node(settings: Settings, layout: Layout, index: int) -> None:
    """Have a node's Patroni re-read its YAML and reload Postgres (our settings changed)."""
    with contextlib.suppress(httpx.HTTPError):
        httpx.post(_url(settings, index, "/reload"), auth=_auth(layout), timeout=10)


def restart_node(settings: Settings, layout: Layout, index: int) -> None:
    """Restart a node's Postgres if it has settings waiting for a restart (else nothing)."""
    resp = httpx.post(
        _url(settings, index, "/restart"),
        json={"restart_pending": True},
        auth=_auth(layout),
        timeout=120,
    )
    if resp.status_code != 200 and "conditions are not satisfied" not in resp.text:
        raise HaError(f"restart of {node_name(index)}: {resp.status_code} {resp.text.strip()}")


def _candidate(found: Cluster, to: str | None) -> str:
    if to is not None:
        node_index(to)
        if to == found.leader:
            raise HaError(f"{to} is the leader already")
        return to
    if found.sync_standby is None:
        raise HaError(f"no synchronous standby to hand over to; cluster: {found}")
    return found.sync_standby


def switchover(
    settings: Settings, layout: Layout, to: str | None = None, timeout: float = 60
) -> tuple[str, str, float]:
    """A planned change of leader with PgBouncer paused around it; (old, new, seconds)."""
    found = wait_sync_standby(settings, timeout=30)
    old = found.leader
    assert old is not None
    new = _candidate(found, to)
    started = time.monotonic()
    with pgbouncer_paused(settings, layout):
        resp = httpx.post(
            _url(settings, node_index(old), "/switchover"),
            json={"leader": old, "candidate": new},
            auth=_auth(layout),
            timeout=timeout,
        )
        if resp.status_code != 200:
            raise HaError(f"switchover refused: {resp.status_code} {resp.text.strip()}")
        wait_for(settings, f"{new} leading", lambda c: c.leader == new, timeout)
        _wait_routed(settings, layout, new, timeout)
    return old, new, time.monotonic() - started


def failover(
    settings: Settings, layout: Layout, to: str | None = None, timeout: float = 60
) -> tuple[str | None, str, float]:
    """Promote a standby now (the leader may be unhealthy; no pause, no demote wait)."""
    found = cluster(settings)
    if found is None:
        raise HaError("no Patroni node answers")
    new = _candidate(found, to)
    started = time.monotonic()
    resp = httpx.post(
        _url(settings, node_index(new), "/failover"),
        json={"candidate": new},
        auth=_auth(layout),
        timeout=timeout,
    )
    if resp.status_code != 200:
        raise HaError(f"failover refused: {resp.status_code} {resp.text.strip()}")
    wait_for(settings, f"{new} leading", lambda c: c.leader == new, timeout)
    _wait_routed(settings, layout, new, timeout)
    return found.leader, new, time.monotonic() - started


def crash(settings: Settings, layout: Layout, name: str) -> tuple[int, int | None]:
    """SIGKILL a node's Patroni and its Postgres (a machine dying): the node stays down (its
    program does not restart by itself) until `stack start patroni-<node>`."""
    index = node_index(name)
    program = patroni_program(index)
    out = supervisor.ctl(layout, "pid", program).strip()
    if not out.isdigit() or out == "0":
        raise HaError(f"{program} is not running")
    patroni_pid = int(out)
    postmaster = postmaster_pid(layout.pg_node(index))
    os.kill(patroni_pid, signal.SIGKILL)
    if postmaster is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(postmaster, signal.SIGKILL)
    return patroni_pid, postmaster


def _wait_routed(settings: Settings, layout: Layout, leader: str, timeout: float) -> None:
    """Until both ways to the leader lead there: PgBouncer (re-pointed by the new leader's
    callback) and HAProxy's write endpoint (its checks)."""
    try:
        routing.wait_pointed(settings, layout, leader, timeout)
    except TimeoutError as exc:
        raise HaError(str(exc)) from exc
    wait_endpoint_writable(settings, layout, timeout)


def wait_endpoint_writable(settings: Settings, layout: Layout, timeout: float) -> None:
    """Until the write endpoint (HAProxy) reaches a node that is not in recovery."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(psycopg.Error):
            conninfo = f"host={layout.pg_socket} port={settings.stack.primary_port} user=postgres"
            with psycopg.connect(conninfo, connect_timeout=2, autocommit=True) as conn:
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
                if row is not None and row[0] is False:
                    return
        time.sleep(0.2)
    raise HaError(f"the write endpoint did not reach a primary within {timeout:.0f}s")


@contextlib.contextmanager
def pgbouncer_paused(settings: Settings, layout: Layout, timeout: float = 20) -> Iterator[None]:
    """PAUSE: PgBouncer lets running transactions finish, closes its server connections and
    holds new queries (up to its query_wait_timeout) until RESUME."""
    conninfo = routing.admin_conninfo(settings, layout)
    with psycopg.connect(conninfo, autocommit=True, prepare_threshold=None) as admin:
        _pause(admin, timeout)
        try:
            yield
        finally:
            admin.execute("RESUME")


def _pause(admin: psycopg.Connection[Any], timeout: float) -> None:
    # PAUSE returns once every server connection is released; a transaction left open by a
    # client would hold it forever, so it gets `timeout` seconds, then everything resumes.
    errors: list[BaseException] = []

    def run() -> None:
        try:
            admin.execute("PAUSE")
        except BaseException as exc:  # reported below
            errors.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive() or errors:
        admin.cancel()
        worker.join(5)
        with contextlib.suppress(psycopg.Error):
            admin.execute("RESUME")
        raise HaError(f"PgBouncer did not pause within {timeout:.0f}s: {errors}")


def node_programs() -> list[str]:
    return [patroni_program(i) for i in NODES]


__all__ = ["Cluster", "HaError", "Member", "node_name"]
