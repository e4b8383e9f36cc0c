"""The high-availability pieces' configs: Patroni per node, HAProxy, etcd's command line.

Patroni owns each node's postgresql.conf (it writes it and includes our settings from
`conf/postgres-node<N>.conf`, the `custom_conf`), its pg_hba.conf and its recovery settings;
the parameters that must be equal on every node live in etcd (Patroni's dynamic config),
pushed again on every `stack up` so the rendered values win (docs/adr/0011).
"""

from __future__ import annotations

import os
from pathlib import Path
from string import Template
from typing import Any

import yaml

from sichrplace.config import HaPorts, Settings
from sichrplace.stack.backup import pgbackrest
from sichrplace.stack.layout import (
    NODES,
    PG_BIN,
    REPLICATION_USER,
    TEMPLATES,
    Layout,
    pg_os_user,
)

SCOPE = "sichrplace"
# How fast a dead leader is replaced: its key expires after TTL seconds without renewal; a
# Patroni loop every LOOP_WAIT; Postgres/etcd calls retried for RETRY_TIMEOUT. Patroni needs
# loop_wait + 2 * retry_timeout <= ttl.
TTL = 10
LOOP_WAIT = 1
RETRY_TIMEOUT = 4

# Parameters Patroni takes only from its dynamic config (equal on every node), with the
# values the stack ran with before Patroni managed it.
CLUSTER_PARAMETERS: dict[str, str | int] = {
    "max_connections": 200,
    "wal_level": "replica",
    "max_wal_senders": 10,
    "max_replication_slots": 10,
    "wal_keep_size": "512MB",
    "hot_standby": "on",
    "hot_standby_feedback": "on",
    # pg_rewind needs it (the clusters were made without data checksums).
    "wal_log_hints": "on",
    # A commit waits for the local flush only; the writes that must survive a failover ask
    # for the synchronous standby themselves (platform.db: require_synchronous_commit).
    "synchronous_commit": "local",
}


def ports(settings: Settings) -> HaPorts:
    return HaPorts(settings.stack.ha_base_port)


def node_name(index: int) -> str:
    return f"node{index}"


def node_index(name: str) -> int:
    """`node2` -> 2; anything else is refused."""
    if name.startswith("node") and name[4:].isdigit() and int(name[4:]) in NODES:
        return int(name[4:])
    raise ValueError(f"no such node: {name!r} (nodes: {', '.join(map(node_name, NODES))})")


def patroni_program(index: int) -> str:
    """The supervisor program running node `index` (Patroni, which runs its Postgres)."""
    return f"patroni-{node_name(index)}"


def custom_conf_path(layout: Layout, index: int) -> Path:
    return layout.conf / f"postgres-{node_name(index)}.conf"


def patroni_conf_path(layout: Layout, index: int) -> Path:
    return layout.conf / f"patroni-{node_name(index)}.yml"


def postgres_conf(settings: Settings, layout: Layout, index: int) -> str:
    """Our postgresql.conf settings for node `index` (Patroni's file includes it first, so
    the parameters Patroni manages itself are not in it)."""
    return Template((TEMPLATES / "postgresql.conf.tmpl").read_text()).substitute(
        node=node_name(index),
        **pgbackrest.postgres_settings(settings, layout, layout.pg_node(index)),
    )


def dynamic_config(settings: Settings) -> dict[str, Any]:
    """Patroni's cluster-wide config (kept in etcd): failover timing, synchronous mode,
    rewind, slots and the parameters every node must share."""
    return {
        "ttl": TTL,
        "loop_wait": LOOP_WAIT,
        "retry_timeout": RETRY_TIMEOUT,
        # A replica further behind than this is never promoted (1 MB of WAL).
        "maximum_lag_on_failover": 1048576,
        # The replica is the synchronous standby: only it may be promoted, so whatever was
        # committed with synchronous_commit=on survives the failover. Not strict: with the
        # standby gone, writes go on with local durability rather than stop.
        "synchronous_mode": True,
        "synchronous_mode_strict": False,
        "postgresql": {
            "use_pg_rewind": True,
            "use_slots": True,
            "parameters": dict(CLUSTER_PARAMETERS),
        },
    }


def patroni_config(
    settings: Settings, layout: Layout, index: int, secrets: dict[str, str]
) -> dict[str, Any]:
    ha = ports(settings)
    name = node_name(index)
    restore = pgbackrest.postgres_settings(settings, layout, layout.pg_node(index))
    callback = str(layout.conf / f"patroni-callback-{name}.sh")
    return {
        "scope": SCOPE,
        "namespace": "/service/",
        "name": name,
        "log": {"level": "INFO", "format": "%(asctime)s %(levelname)s: %(message)s"},
        "restapi": {
            "listen": f"127.0.0.1:{ha.patroni(index)}",
            "connect_address": f"127.0.0.1:{ha.patroni(index)}",
            # Reads (health checks, /cluster, /metrics) are open; changes need the password.
            "authentication": {"username": "patroni", "password": secrets["PATRONI_API_PASSWORD"]},
        },
        "etcd3": {"hosts": [f"127.0.0.1:{ha.etcd_client}"]},
        "bootstrap": {
            "dcs": dynamic_config(settings),
            "initdb": [
                {"encoding": "UTF8"},
                {"locale": "C.UTF-8"},
                {"auth-local": "trust"},
                {"auth-host": "scram-sha-256"},
            ],
        },
        "postgresql": {
            "listen": f"127.0.0.1:{ha.node(index)}",
            "connect_address": f"127.0.0.1:{ha.node(index)}",
            "data_dir": str(layout.pg_node(index)),
            "bin_dir": str(PG_BIN),
            "custom_conf": str(custom_conf_path(layout, index)),
            "pgpass": str(layout.root / "pg" / f".pgpass-{name}"),
            "use_unix_socket": True,
            "use_unix_socket_repl": False,
            "authentication": {
                "superuser": {
                    "username": "postgres",
                    "password": secrets["SUPERUSER_PASSWORD"],
                },
                "replication": {
                    "username": REPLICATION_USER,
                    "password": secrets["REPLICATION_PASSWORD"],
                },
                "rewind": {"username": "postgres", "password": secrets["SUPERUSER_PASSWORD"]},
            },
            "parameters": {
                "unix_socket_directories": str(layout.pg_socket),
                "cluster_name": SCOPE,
            },
            # A replica too far behind to stream reads the WAL archive.
            "recovery_conf": {"restore_command": restore["restore_command"]},
            # PgBouncer follows the roles (stack.ha.routing).
            "callbacks": {"on_start": callback, "on_role_change": callback},
            "create_replica_methods": ["basebackup"],
            "basebackup": [{"checkpoint": "fast"}],
            "pg_hba": [
                # The unix socket lives in a folder only the stack's users can enter; TCP is
                # loopback-only and password-protected.
                "local all all trust",
                "host all all 127.0.0.1/32 scram-sha-256",
                f"host replication {REPLICATION_USER} 127.0.0.1/32 scram-sha-256",
            ],
        },
        "watchdog": {"mode": "off"},
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False},
    }


def patroni_yaml(settings: Settings, layout: Layout, index: int, secrets: dict[str, str]) -> str:
    header = "# Rendered by `sichrplace stack up` (sichrplace.stack.ha.config); docs/adr/0011.\n"
    body = yaml.safe_dump(patroni_config(settings, layout, index, secrets), sort_keys=False)
    return header + body


def haproxy_socket(layout: Layout) -> Path:
    """HAProxy's admin socket (`show stat`: each server's state as its checks see it)."""
    return layout.run / "haproxy.sock"


def haproxy_conf(settings: Settings, layout: Layout) -> str:
    """The write endpoint (the leader) and the read endpoint (a streaming replica, the leader
    when none is healthy), each on TCP and on a unix socket beside the nodes' own."""
    s, ha = settings.stack, ports(settings)

    def target(i: int, *, local: bool) -> str:
        # Through the node's own unix socket it is a local (trust) connection, for the stack's
        # superuser tools; the socket folder keeps everyone else out. TCP asks for a password.
        return (
            f"unix@{layout.pg_socket}/.s.PGSQL.{ha.node(i)}" if local else f"127.0.0.1:{ha.node(i)}"
        )

    def servers(*, local: bool, replicas: bool = False) -> str:
        lines = []
        for i in NODES:
            extra = " on-marked-up shutdown-backup-sessions" if replicas else ""
            lines.append(
                f"    server {node_name(i)} {target(i, local=local)}"
                f" check addr 127.0.0.1 port {ha.patroni(i)}{extra}"
            )
        if replicas:
            leader = "leader-local" if local else "leader"
            lines += [
                f"    server {node_name(i)}-leader {target(i, local=local)} backup"
                f" track {leader}/{node_name(i)}"
                for i in NODES
            ]
        return "\n".join(lines)

    return Template((TEMPLATES / "haproxy.cfg.tmpl").read_text()).substitute(
        primary_port=s.primary_port,
        replica_port=s.replica_port,
        socket_dir=layout.pg_socket,
        stats_port=ha.haproxy_stats,
        stats_socket=haproxy_socket(layout),
        # The sockets belong to the Postgres OS user, like the nodes' own beside them.
        socket_owner=f"user {pg_user} group {pg_user} " if (pg_user := pg_os_user()) else "",
        tcp_servers=servers(local=False),
        local_servers=servers(local=True),
        tcp_replica_servers=servers(local=False, replicas=True),
        local_replica_servers=servers(local=True, replicas=True),
    )


# etcd's CPU priority when the stack runs as root. Here it shares two cores with the load: a
# benchmark starved it until Patroni's requests timed out (1.2 s) and the leader stepped down
# for a DCS that was only slow (docs/performance-log.md, round 18). On real hosts the DCS has
# cores of its own.
ETCD_NICE = -5


def etcd_command(settings: Settings, layout: Layout, *, as_root: bool | None = None) -> str:
    """One etcd member locally (three in production: docs/adr/0011), ahead of the workload
    for the CPU where the stack may raise a priority (as root)."""
    ha = ports(settings)
    client, peer = f"http://127.0.0.1:{ha.etcd_client}", f"http://127.0.0.1:{ha.etcd_peer}"
    root = os.geteuid() == 0 if as_root is None else as_root
    return (
        (f"/usr/bin/nice -n {ETCD_NICE} " if root else "")
        + f"/usr/bin/etcd --name {SCOPE} --data-dir {layout.etcd / 'member-data'}"
        f" --listen-client-urls {client} --advertise-client-urls {client}"
        f" --listen-peer-urls {peer} --initial-advertise-peer-urls {peer}"
        f" --initial-cluster {SCOPE}={peer} --initial-cluster-state new"
        " --logger zap --log-level warn"
    )
