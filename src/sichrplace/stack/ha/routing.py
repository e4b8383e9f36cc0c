"""Where PgBouncer sends its two databases: straight to the nodes, re-pointed on every role
change by a Patroni callback (docs/adr/0011).

PgBouncer's `sichrplace` (writes) and `sichrplace_ro` (reads) lines live in two small files
it includes (`<data>/run/pg/pgbouncer-rw.ini`, `-ro.ini`), owned by the Postgres OS user. Each
node's Patroni runs `conf/patroni-callback-node<N>.sh` when Postgres starts or changes role:
a node that leads takes the write line (and gives the read line to the other node), a node
that follows takes the read line; then PgBouncer re-reads its config (SIGHUP), and its server
connections to the old address close as they are released. `stack up` writes both files from
the cluster as Patroni reports it (`nodes.point_pgbouncer`), so a callback that never ran is
repaired there.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import time
from pathlib import Path

import psycopg

from sichrplace.config import Settings
from sichrplace.stack.ha.config import node_index, node_name, ports
from sichrplace.stack.layout import NODES, PGBOUNCER_ADMIN, Layout, chown_pg
from sichrplace.stack.render import stack_secrets

WRITE, READ = "rw", "ro"


def callback_path(layout: Layout, index: int) -> Path:
    return layout.conf / f"patroni-callback-{node_name(index)}.sh"


def _line(database: str, port: int, dbname: str) -> str:
    return f"{database} = host=127.0.0.1 port={port} dbname={dbname}\n"


def callback_script(settings: Settings, layout: Layout, index: int) -> str:
    """The node's callback: `<script> <action> <role> <scope>` (Patroni's arguments)."""
    ha, db = ports(settings), settings.db
    own = ha.node(index)
    other = next(ha.node(i) for i in NODES if i != index)
    rw, ro = (shlex.quote(str(layout.pgbouncer_route(w))) for w in (WRITE, READ))
    write_line = shlex.quote(_line(db.name, own, db.name))
    read_self = shlex.quote(_line(db.replica_name, own, db.name))
    read_other = shlex.quote(_line(db.replica_name, other, db.name))
    pid = shlex.quote(str(layout.pgbouncer_pidfile))
    return f"""#!/bin/sh
# Rendered by `sichrplace stack up` (sichrplace.stack.ha.routing); docs/adr/0011.
# Patroni runs it as {node_name(index)}'s on_start and on_role_change: $1 action, $2 role.
set -eu
put() {{ printf '%s' "$2" > "$1.tmp" && mv "$1.tmp" "$1"; }}
case "$2" in
  primary|master)
    put {rw} {write_line}
    put {ro} {read_other} ;;
  replica)
    put {ro} {read_self} ;;
  *) exit 0 ;;
esac
# PgBouncer re-reads its config on SIGHUP (not running: `stack up` writes the files again).
if [ -f {pid} ]; then kill -HUP "$(cat {pid})" 2>/dev/null || true; fi
"""


def write_callbacks(settings: Settings, layout: Layout) -> None:
    for index in NODES:
        path = callback_path(layout, index)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(callback_script(settings, layout, index))
        tmp.chmod(0o755)
        tmp.replace(path)


def point(settings: Settings, layout: Layout, leader: str, reader: str | None) -> None:
    """Write both route files (the write line to `leader`, the read line to `reader`, else the
    leader) and have a running PgBouncer re-read them."""
    ha, db = ports(settings), settings.db
    lines = {
        WRITE: _line(db.name, ha.node(node_index(leader)), db.name),
        READ: _line(db.replica_name, ha.node(node_index(reader or leader)), db.name),
    }
    for which, text in lines.items():
        path = layout.pgbouncer_route(which)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        chown_pg(tmp)
        tmp.replace(path)
    reload(layout)


def routed_port(layout: Layout, which: str) -> int | None:
    """The node port PgBouncer's write (`rw`) or read (`ro`) line names now, if written."""
    try:
        text = layout.pgbouncer_route(which).read_text()
    except FileNotFoundError:
        return None
    for part in text.split():
        if part.startswith("port="):
            return int(part.removeprefix("port="))
    return None


def reload(layout: Layout) -> None:
    with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
        os.kill(int(layout.pgbouncer_pidfile.read_text().strip()), signal.SIGHUP)


def admin_conninfo(settings: Settings, layout: Layout) -> str:
    """PgBouncer's admin console (SHOW, PAUSE, RESUME) as the stack's admin user."""
    password = stack_secrets(layout)["PGBOUNCER_ADMIN_PASSWORD"]
    return (
        f"host=127.0.0.1 port={settings.stack.pgbouncer_port} dbname=pgbouncer"
        f" user={PGBOUNCER_ADMIN} password={password}"
    )


def pgbouncer_ports(settings: Settings, layout: Layout) -> dict[str, int]:
    """The port each of PgBouncer's databases points at now (its admin console)."""
    with psycopg.connect(
        admin_conninfo(settings, layout), autocommit=True, connect_timeout=3
    ) as admin:
        rows = admin.execute("SHOW DATABASES").fetchall()
    return {str(row[0]): int(row[2]) for row in rows if row[2] is not None}


def wait_pointed(settings: Settings, layout: Layout, leader: str, timeout: float) -> None:
    """Until PgBouncer's write database points at `leader` (its callback ran, it reloaded)."""
    want = ports(settings).node(node_index(leader))
    deadline = time.monotonic() + timeout
    seen: dict[str, int] = {}
    while time.monotonic() < deadline:
        with contextlib.suppress(psycopg.Error):
            seen = pgbouncer_ports(settings, layout)
            if seen.get(settings.db.name) == want:
                return
        time.sleep(0.1)
    raise TimeoutError(
        f"PgBouncer does not point at {leader} (:{want}) after {timeout:.0f}s: {seen}"
    )
