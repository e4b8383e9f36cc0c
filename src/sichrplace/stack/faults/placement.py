"""Placing the fault proxy in the APIs' paths and taking it out again (arm/disarm).

By default the API instances talk to PgBouncer and Redis directly (the benchmarks pay
nothing for the proxy). Arming re-renders supervisord's config with the APIs' database port
and Redis URL pointing at the proxy, then restarts the instances one at a time: each drains
on SIGTERM (cli/serve.py), nginx sends new requests to the others meanwhile (and retries a
refused connection on the next upstream), and the next instance goes only once this one
answers /readyz and nginx has had time to take it back (its fail_timeout).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import httpx

from sichrplace.config import Settings
from sichrplace.stack import supervisor
from sichrplace.stack.faultproxy import armed_marker, is_armed
from sichrplace.stack.faults import control
from sichrplace.stack.layout import Layout
from sichrplace.stack.render import api_ports, write_supervisor_conf

# nginx's upstream servers have fail_timeout=3s: a server it saw fail during the restart is
# left out that long after it answers again.
NGINX_FAIL_TIMEOUT_S = 3.0
READY_TIMEOUT_S = 90.0

Say = Callable[[str], None]


def _quiet(message: str) -> None:
    return None


def _numbered(layout: Layout, prefix: str) -> list[str]:
    names = [p.name for p in supervisor.states(layout) if re.fullmatch(rf"{prefix}-\d+", p.name)]
    return sorted(names, key=lambda n: int(n.rsplit("-", 1)[1]))


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _wait_ready(name: str, port: int, timeout: float = READY_TIMEOUT_S) -> float:
    started = time.monotonic()
    while not _ready(port):
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"{name} not ready on :{port} after {timeout:.0f}s")
        time.sleep(0.25)
    return time.monotonic() - started


def ensure_proxy(settings: Settings, layout: Layout) -> None:
    """The `faultproxy` program in supervisord's config and running (a stack brought up
    before it existed gets it added without touching anything else)."""
    if supervisor.state_of(layout, "faultproxy") == "UNKNOWN":
        _rewrite_conf(settings, layout)
        supervisor.ctl(layout, "update", "faultproxy", check=True)
    supervisor.start(layout, "faultproxy")
    deadline = time.monotonic() + 30
    while not control.healthy(settings):
        if time.monotonic() > deadline:
            raise RuntimeError("the fault proxy does not answer (see `stack logs faultproxy`)")
        time.sleep(0.2)


def _rewrite_conf(settings: Settings, layout: Layout) -> None:
    instances = len(_numbered(layout, "api")) or settings.stack.api_instances
    workers = len(_numbered(layout, "worker")) or settings.stack.workers
    write_supervisor_conf(settings, layout, instances=instances, workers=workers)
    supervisor.ctl(layout, "reread")


def arm(settings: Settings, layout: Layout, say: Say = _quiet) -> list[float]:
    """Point every API instance through the proxy; seconds each took to be back."""
    ensure_proxy(settings, layout)
    control.clear(settings)
    armed_marker(layout).touch()
    return _roll(settings, layout, say)


def disarm(settings: Settings, layout: Layout, say: Say = _quiet) -> list[float]:
    """Point every API instance straight at PgBouncer and Redis again (paths cleared first,
    so the restarts are not slowed by a fault left behind)."""
    if control.healthy(settings):
        control.clear(settings)
    armed_marker(layout).unlink(missing_ok=True)
    return _roll(settings, layout, say)


def _roll(settings: Settings, layout: Layout, say: Say) -> list[float]:
    """Apply the re-rendered config to the APIs, one instance at a time."""
    _rewrite_conf(settings, layout)
    names = _numbered(layout, "api")
    ports = api_ports(settings, len(names))
    took: list[float] = []
    for name, port in zip(names, ports, strict=True):
        started = time.monotonic()
        # `update` stops the program (SIGTERM: it drains) only if its config changed, and
        # adds it back stopped (autostart=false); `start` is a no-op for one left running.
        out = supervisor.ctl(layout, "update", name, check=True)
        supervisor.start(layout, name)
        _wait_ready(name, port)
        if "stopped" in out or "updated" in out:
            time.sleep(NGINX_FAIL_TIMEOUT_S + 0.5)
        took.append(time.monotonic() - started)
        say(f"{name} {'through the proxy' if is_armed(layout) else 'direct'}: {took[-1]:.1f}s")
    return took
