"""Replacing the API instances one at a time behind nginx, and the workers after them.

One instance at a time: nginx's upstream is re-rendered with it `down` and reloaded gracefully
(new nginx workers send it nothing; the old ones finish what they hold), its in-flight
requests are waited for (its own `sichrplace_http_requests_in_flight`, bounded), it is stopped
(SIGTERM: it drains too, cli/serve.py), its supervisord program is re-rendered and started,
and once `/readyz` answers 200 it is put back in the upstream (reload). No request is sent to
an instance that is going away, so none needs nginx's retry. Used by releases (stack/release.py)
and the fault proxy's arm/disarm (stack/faults/placement.py).
"""

from __future__ import annotations

import math
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from sichrplace.config import ObservabilityPorts, Settings
from sichrplace.stack import releases, supervisor
from sichrplace.stack.layout import Layout
from sichrplace.stack.render import api_ports, write_nginx_conf, write_supervisor_conf

# An instance starts in ~5-15 s on a loaded 2-core machine (the lifespan warms plan statistics
# for up to 15 s); beyond this it is taken for broken and the release rolls back.
READY_TIMEOUT_S = 90.0
# Requests still running on an instance nginx no longer sends to: a search answers in well
# under a second; only event streams stay longer, and SIGTERM ends those (clients reconnect).
DRAIN_TIMEOUT_S = 10.0
# nginx's new workers take over within milliseconds of the HUP; a margin before counting.
RELOAD_SETTLE_S = 0.3
# A ready instance still loads its facet index in the background (~35-75 s for 1M listings
# on this machine, under a second for the demo data); until then facets come from Postgres,
# and under an uncached load some hit the statement timeout (503). Measured: 11 such 503s
# after a release that let cold instances in. Beyond the bound it joins anyway.
WARM_TIMEOUT_S = 120.0

Say = Callable[[str], None]


def quiet(message: str) -> None:
    return None


class NotReady(RuntimeError):
    """An instance did not become ready within its bound."""


@dataclass(frozen=True)
class Timing:
    """Seconds one program took: out of the balancer and drained, stopped, started to ready."""

    name: str
    drain_s: float
    stop_s: float
    ready_s: float
    total_s: float
    in_flight_left: float = 0.0
    warm_s: float = 0.0

    def line(self) -> str:
        left = f" ({self.in_flight_left:.0f} still in flight)" if self.in_flight_left else ""
        return (
            f"{self.name}: drained {self.drain_s:.1f}s{left}, stopped {self.stop_s:.1f}s,"
            f" ready {self.ready_s:.1f}s, warm {self.warm_s:.1f}s, total {self.total_s:.1f}s"
        )


def numbered(layout: Layout, prefix: str) -> list[str]:
    """`api-1`, `api-2`, … (or `worker-N`) as supervisord knows them, in order."""
    names = [p.name for p in supervisor.states(layout) if re.fullmatch(rf"{prefix}-\d+", p.name)]
    return sorted(names, key=lambda n: int(n.rsplit("-", 1)[1]))


def instance_count(settings: Settings, layout: Layout) -> int:
    return len(numbered(layout, "api")) or settings.stack.api_instances


def rewrite_supervisor_conf(settings: Settings, layout: Layout) -> None:
    workers = len(numbered(layout, "worker")) or settings.stack.workers
    write_supervisor_conf(
        settings, layout, instances=instance_count(settings, layout), workers=workers
    )
    supervisor.ctl(layout, "reread")


def reload_nginx(settings: Settings, layout: Layout) -> None:
    """Re-render nginx's config (upstream from the release state) and reload it gracefully."""
    write_nginx_conf(settings, layout, api_ports(settings, instance_count(settings, layout)))
    conf = layout.conf / "nginx.conf"
    check = subprocess.run(
        ["/usr/sbin/nginx", "-t", "-q", "-p", str(layout.nginx), "-c", str(conf)],
        capture_output=True,
        text=True,
        check=False,
    )
    if check.returncode != 0:
        raise RuntimeError(f"nginx refuses the new config: {check.stderr.strip()}")
    supervisor.ctl(layout, "signal", "HUP", "nginx", check=True)
    time.sleep(RELOAD_SETTLE_S)


def set_down(settings: Settings, layout: Layout, port: int, down: bool) -> None:
    state = releases.load_state(layout)
    ports = set(state.down)
    ports = ports | {port} if down else ports - {port}
    state.down = sorted(ports)
    releases.save_state(layout, state)
    reload_nginx(settings, layout)


def ready(port: int, path: str = "/readyz") -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait_ready(name: str, port: int, timeout: float, path: str = "/readyz") -> float:
    started = time.monotonic()
    while not ready(port, path):
        if time.monotonic() - started > timeout:
            raise NotReady(f"{name} not ready on :{port} after {timeout:.0f}s")
        time.sleep(0.25)
    return time.monotonic() - started


IN_FLIGHT = re.compile(r"^sichrplace_http_requests_in_flight (\S+)$", re.M)


def in_flight(port: int) -> float | None:
    """Requests the instance is serving, not counting the scrape itself (0 when nothing
    listens any more; None when it does not answer in time)."""
    try:
        resp = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
    except httpx.ConnectError:
        return 0.0
    except httpx.HTTPError:
        return None
    found = IN_FLIGHT.search(resp.text)
    return max(0.0, float(found.group(1)) - 1) if found else None


FACET_INDEX_AGE = re.compile(r"^sichrplace_facet_index_age_seconds (\S+)$", re.M)


def warm(port: int) -> bool:
    """The facet index loaded (its age is NaN before; a version without it counts as warm)."""
    try:
        resp = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
    except httpx.HTTPError:
        return False
    found = FACET_INDEX_AGE.search(resp.text)
    return found is None or not math.isnan(float(found.group(1)))


def wait_warm(port: int, timeout: float) -> float:
    """Seconds until the instance is warm, or the bound (it then joins cold)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout and not warm(port):
        time.sleep(0.5)
    return time.monotonic() - started


def wait_drained(port: int, timeout: float) -> tuple[float, float]:
    """Seconds until nothing is in flight twice in a row (or the bound), and what was left."""
    started = time.monotonic()
    quiet_samples, left = 0, 0.0
    while time.monotonic() - started < timeout:
        count = in_flight(port)
        left = 1.0 if count is None else count
        quiet_samples = quiet_samples + 1 if left == 0 else 0
        if quiet_samples >= 2:
            break
        time.sleep(0.1)
    return time.monotonic() - started, left


def _restart(settings: Settings, layout: Layout, name: str, change: Callable[[], None]) -> float:
    """Stop (SIGTERM, drains), apply `change` to the rendered config, start; seconds to stop."""
    started = time.monotonic()
    supervisor.stop(layout, name)
    stop_s = time.monotonic() - started
    change()
    rewrite_supervisor_conf(settings, layout)
    # `update` re-adds a program whose config changed (stopped: autostart is false).
    supervisor.ctl(layout, "update", name, check=True)
    try:
        supervisor.start(layout, name)
    except RuntimeError as exc:
        raise NotReady(f"{name} did not start: {exc}") from exc
    return stop_s


def replace_api(
    settings: Settings,
    layout: Layout,
    name: str,
    port: int,
    change: Callable[[], None],
    *,
    ready_timeout: float = READY_TIMEOUT_S,
    drain_timeout: float = DRAIN_TIMEOUT_S,
    warm_timeout: float = WARM_TIMEOUT_S,
) -> Timing:
    """Out of nginx, drained, restarted with `change` applied, ready and warm, back in nginx.
    On NotReady the instance stays out of nginx (the caller rolls back)."""
    started = time.monotonic()
    set_down(settings, layout, port, True)
    drain_s, left = wait_drained(port, drain_timeout)
    stop_s = _restart(settings, layout, name, change)
    ready_s = wait_ready(name, port, ready_timeout)
    warm_s = wait_warm(port, warm_timeout)
    set_down(settings, layout, port, False)
    return Timing(name, drain_s, stop_s, ready_s, time.monotonic() - started, left, warm_s)


def replace_worker(
    settings: Settings,
    layout: Layout,
    name: str,
    change: Callable[[], None],
    *,
    ready_timeout: float = READY_TIMEOUT_S,
) -> Timing:
    """Stopped (SIGTERM: running jobs finish, the rest wait in the queue), restarted with
    `change` applied, ready when its /metrics answers (it serves them once its pools are up)."""
    started = time.monotonic()
    stop_s = _restart(settings, layout, name, change)
    port = ObservabilityPorts(settings.stack.exporters_base_port).worker_metrics(
        int(name.rsplit("-", 1)[1])
    )
    ready_s = wait_ready(name, port, ready_timeout, path="/metrics")
    return Timing(name, 0.0, stop_s, ready_s, time.monotonic() - started)


def roll_apis(settings: Settings, layout: Layout, say: Say = quiet) -> list[Timing]:
    """Every API instance through `replace_api` with the config as rendered now (the fault
    proxy's arm/disarm: the change is made before, for all of them)."""
    names = numbered(layout, "api")
    took = []
    for name, port in zip(names, api_ports(settings, len(names)), strict=True):
        # No warm-up wait: arm/disarm kept its pace (the chaos matrix's timings).
        took.append(replace_api(settings, layout, name, port, lambda: None, warm_timeout=0))
        say(took[-1].line())
    return took
