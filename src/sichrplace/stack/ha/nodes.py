"""Bringing the Postgres cluster up and down under the stack's supervisor: etcd, the Patroni
nodes, HAProxy, in that order (and the reverse)."""

from __future__ import annotations

import contextlib
import csv
import socket
import time

import httpx

from sichrplace.config import Settings
from sichrplace.stack import supervisor
from sichrplace.stack.ha import patroni, routing
from sichrplace.stack.ha.config import (
    dynamic_config,
    haproxy_socket,
    node_index,
    patroni_program,
    ports,
)
from sichrplace.stack.layout import NODES, Layout


def _etcd_healthy(settings: Settings) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        resp = httpx.get(f"http://127.0.0.1:{ports(settings).etcd_client}/health", timeout=2)
        return resp.status_code == 200 and resp.json().get("health") == "true"
    return False


def start_cluster(settings: Settings, layout: Layout, *, adopted: bool) -> str:
    """etcd, then the nodes, until one leads; returns the leader's name.

    Nodes that Patroni has not met yet start one after the other when they come from the
    layout before Patroni (`adopted`): node1, the old primary, must take the cluster over
    before node2, its old replica, may join it as a standby."""
    routing.write_callbacks(settings, layout)
    supervisor.start(layout, "etcd")
    deadline = time.monotonic() + 30
    while not _etcd_healthy(settings):
        if time.monotonic() > deadline:
            raise patroni.HaError("etcd not healthy after 30s (see `sichrplace stack logs etcd`)")
        time.sleep(0.2)
    programs = [patroni_program(i) for i in NODES]
    if adopted:
        supervisor.start(layout, programs[0])
        patroni.wait_leader(settings, timeout=300)
        supervisor.start(layout, *programs[1:])
    else:
        supervisor.start_together(layout, *programs)
    leader = patroni.wait_leader(settings, timeout=300)
    supervisor.start(layout, "haproxy")
    wait_haproxy_leads(layout, leader)
    return leader


WRITE_BACKENDS = ("leader", "leader-local")  # deploy/stack/haproxy.cfg.tmpl


def parse_show_stat(text: str) -> dict[str, dict[str, str]]:
    """HAProxy's `show stat` CSV: each backend's servers and their state (`UP`, `DOWN`,
    `UP 1/2` while going down, ...)."""
    lines = text.strip().splitlines()
    if not lines:
        return {}
    header = lines[0].removeprefix("# ").split(",")
    out: dict[str, dict[str, str]] = {}
    for row in csv.DictReader(lines[1:], fieldnames=header):
        if row["svname"] not in ("FRONTEND", "BACKEND"):
            out.setdefault(row["pxname"], {})[row["svname"]] = row["status"]
    return out


def haproxy_states(layout: Layout) -> dict[str, dict[str, str]]:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(2)
        sock.connect(str(haproxy_socket(layout)))
        sock.sendall(b"show stat\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return parse_show_stat(b"".join(chunks).decode())


def leads_alone(states: dict[str, dict[str, str]], leader: str) -> bool:
    """Whether every write backend sends to `leader` and to no other server."""
    return all(
        states.get(backend, {}).get(leader) == "UP"
        and not any(
            state.startswith("UP")
            for server, state in states.get(backend, {}).items()
            if server != leader
        )
        for backend in WRITE_BACKENDS
    )


def wait_haproxy_leads(layout: Layout, leader: str, timeout: float = 30) -> None:
    """Until HAProxy's checks agree with Patroni. HAProxy counts every server UP when it
    starts, until checks (2 failures, a second apart) say otherwise, and 2.6 has no
    `init-state`: in those seconds a client of the write endpoint may be sent to a standby
    that is not running yet (a `stack up` failed so: `pg_isready` reached the leader, the
    next `psql` a standby being built)."""
    deadline = time.monotonic() + timeout
    states: dict[str, dict[str, str]] = {}
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            states = haproxy_states(layout)
            if leads_alone(states, leader):
                return
        time.sleep(0.2)
    raise patroni.HaError(
        f"HAProxy did not send writes to {leader} alone in {timeout:.0f}s: {states}"
    )


def settle(settings: Settings, layout: Layout, *, adopted: bool) -> None:
    """After the roles and stanza exist: the dynamic config as rendered (etcd keeps what the
    first bootstrap wrote), each node re-reads its YAML, a converted cluster restarts once
    for the settings that need it (wal_log_hints), and a synchronous standby streams."""
    patroni.patch_config(settings, layout, dynamic_config(settings))
    for index in NODES:
        patroni.reload_node(settings, layout, index)
    if adopted:
        restart_pending(settings, layout)
    patroni.wait_sync_standby(settings, timeout=600)


def restart_pending(settings: Settings, layout: Layout) -> None:
    """Restart the nodes whose Postgres has settings waiting for a restart, standbys first."""
    found = patroni.wait_sync_standby(settings, timeout=600)
    order = [m.name for m in found.standbys] + [found.leader or ""]
    for name in filter(None, order):
        patroni.restart_node(settings, layout, node_index(name))


def stop_cluster(layout: Layout, settings: Settings) -> None:
    """HAProxy, then the standbys, then the leader (it hands nothing over on a planned stop
    of everything), then etcd."""
    supervisor.stop(layout, "haproxy")
    found = patroni.cluster(settings)
    leader = found.leader if found else None
    programs = [patroni_program(i) for i in NODES]
    first = [p for p in programs if leader is None or p != patroni_program(node_index(leader))]
    supervisor.stop(layout, *first)
    supervisor.stop(layout, *[p for p in programs if p not in first])
    supervisor.stop(layout, "etcd")


def point_pgbouncer(settings: Settings, layout: Layout) -> str:
    """PgBouncer's write line to the leader, its read line to the synchronous standby (else
    another running standby, else the leader); the leader's name."""
    leader = patroni.wait_leader(settings)
    found = patroni.cluster(settings)
    reader = found.sync_standby if found else None
    if reader is None and found is not None:
        running = [m.name for m in found.standbys if m.state in ("running", "streaming")]
        reader = running[0] if running else None
    routing.point(settings, layout, leader, reader)
    return leader
