"""Building blocks the faults share: supervisord programs, the APIs' readiness, Postgres."""

from __future__ import annotations

import re
import time
from functools import partial
from typing import Any

import httpx
import psycopg

from sichrplace.chaos.base import FaultContext, FaultError, wait_until
from sichrplace.stack import supervisor
from sichrplace.stack.ha import config as ha_config
from sichrplace.stack.render import api_ports

# nginx leaves out an upstream that failed (max_fails=3) for its fail_timeout (3 s).
NGINX_FAIL_TIMEOUT_S = 3.0


def ctl(ctx: FaultContext, *args: str) -> str:
    return supervisor.ctl(ctx.layout, *args)


def state(ctx: FaultContext, program: str) -> str:
    return supervisor.state_of(ctx.layout, program)


def start(ctx: FaultContext, *programs: str) -> None:
    """Start the programs not running (idempotent)."""
    try:
        supervisor.start(ctx.layout, *programs)
    except RuntimeError as exc:
        raise FaultError(f"start {' '.join(programs)}: {exc}") from exc


def pid(ctx: FaultContext, program: str) -> int | None:
    out = ctl(ctx, "pid", program).strip()
    return int(out) if out.isdigit() and out != "0" else None


def numbered(ctx: FaultContext, prefix: str) -> list[str]:
    names = [
        p.name for p in supervisor.states(ctx.layout) if re.fullmatch(rf"{prefix}-\d+", p.name)
    ]
    return sorted(names, key=lambda n: int(n.rsplit("-", 1)[1]))


def wait_running(ctx: FaultContext, program: str, timeout: float = 60) -> None:
    wait_until(f"{program} RUNNING", lambda: state(ctx, program) == "RUNNING", timeout)


def _ready(url: str) -> bool:
    return httpx.get(url, timeout=2).status_code == 200


def wait_apis_ready(ctx: FaultContext, timeout: float = 90) -> None:
    """Every API instance answers /readyz (its database and Redis reachable), and so does the
    entry point; then nginx's fail_timeout passes, so it sends to every instance again."""
    started = time.monotonic()
    names = numbered(ctx, "api")
    for name, port in zip(names, api_ports(ctx.settings, len(names)), strict=True):
        wait_running(ctx, name, timeout)
        url = f"http://127.0.0.1:{port}/readyz"
        wait_until(f"{name} ready", partial(_ready, url), timeout)
    entry = f"http://127.0.0.1:{ctx.settings.stack.nginx_port}/readyz"
    wait_until("nginx /readyz", lambda: _ready(entry), timeout)
    ctx.progress(f"APIs ready ({time.monotonic() - started:.1f}s)")
    time.sleep(NGINX_FAIL_TIMEOUT_S)


def node_conninfo(ctx: FaultContext, node: str) -> str:
    """The superuser on a node's own unix socket (trust; the socket folder keeps others out)."""
    port = ha_config.ports(ctx.settings).node(ha_config.node_index(node))
    return f"host={ctx.layout.pg_socket} port={port} user=postgres dbname=postgres"


def node_query(ctx: FaultContext, node: str, sql: str) -> Any:
    with psycopg.connect(node_conninfo(ctx, node), autocommit=True, connect_timeout=3) as conn:
        row = conn.execute(sql).fetchone()
        return row[0] if row else None
