"""Placing the fault proxy in the APIs' paths and taking it out again (arm/disarm).

By default the API instances talk to PgBouncer and Redis directly (the benchmarks pay
nothing for the proxy). Arming re-renders supervisord's config with the APIs' database port
and Redis URL pointing at the proxy, then replaces the instances one at a time the way a
release does (stack/rolling.py): out of nginx's upstream, drained, restarted, ready, back in.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sichrplace.config import Settings
from sichrplace.stack import rolling, supervisor
from sichrplace.stack.faultproxy import armed_marker, is_armed
from sichrplace.stack.faults import control
from sichrplace.stack.layout import Layout

Say = Callable[[str], None]


def _quiet(message: str) -> None:
    return None


def ensure_proxy(settings: Settings, layout: Layout) -> None:
    """The `faultproxy` program in supervisord's config and running (a stack brought up
    before it existed gets it added without touching anything else)."""
    if supervisor.state_of(layout, "faultproxy") == "UNKNOWN":
        rolling.rewrite_supervisor_conf(settings, layout)
        supervisor.ctl(layout, "update", "faultproxy", check=True)
    supervisor.start(layout, "faultproxy")
    deadline = time.monotonic() + 30
    while not control.healthy(settings):
        if time.monotonic() > deadline:
            raise RuntimeError("the fault proxy does not answer (see `stack logs faultproxy`)")
        time.sleep(0.2)


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
    route = "through the proxy" if is_armed(layout) else "direct"
    timings = rolling.roll_apis(settings, layout, lambda line: say(f"{line} ({route})"))
    return [t.total_s for t in timings]
