"""The stack's ports, and keeping them out of the kernel's ephemeral range.

Every port of the stack lies in Linux's ephemeral range (32768-60999), from which the kernel
gives each outgoing connection its local port. A program restarted (an API replaced by a
release, Postgres after a failover, a restored copy started beside the stack) cannot bind its
port while some client connection holds it as its local end, and with a few hundred pooled
connections open that happens. `stack up` therefore adds the stack's ports to
`net.ipv4.ip_local_reserved_ports`, which the kernel skips when it picks a local port.
"""

from __future__ import annotations

from pathlib import Path

from sichrplace.config import Settings
from sichrplace.stack import faultproxy, observability
from sichrplace.stack.ha import config as ha_config
from sichrplace.stack.layout import NODES
from sichrplace.stack.render import api_ports

RESERVED_PORTS = Path("/proc/sys/net/ipv4/ip_local_reserved_ports")
MAX_API_INSTANCES = 16  # the canary's port is among these (releases.CANARY_PORT_OFFSET)
# Where `db restore` looks for a port for its copy: from the write endpoint's port + 10.
RESTORE_PORT_OFFSET = 10
RESTORE_PORT_SPAN = 200

Interval = tuple[int, int]  # first and last port, both included


def restore_ports(settings: Settings) -> list[int]:
    """Where `db restore` may start its copy: the span less the stack's own ports (the HA
    ports lie in it, and one whose program is down for a moment is still not free)."""
    start = settings.stack.primary_port + RESTORE_PORT_OFFSET
    taken = set(stack_ports(settings))
    return [p for p in range(start, start + RESTORE_PORT_SPAN) if p not in taken]


def stack_ports(settings: Settings) -> list[int]:
    """Every port a program of the stack listens on (`stack down` checks none still does)."""
    s = settings.stack
    ha = ha_config.ports(settings)
    proxy = faultproxy.FaultProxyPorts(s.faultproxy_base_port)
    return [
        s.primary_port,
        s.replica_port,
        *(ha.node(i) for i in NODES),
        *(ha.patroni(i) for i in NODES),
        ha.etcd_client,
        ha.etcd_peer,
        ha.haproxy_stats,
        s.pgbouncer_port,
        s.redis_port,
        s.nginx_port,
        s.smtp_port,
        s.stripe_fake_port,
        s.paypal_fake_port,
        proxy.control,
        proxy.pgbouncer,
        proxy.redis,
        *api_ports(settings, MAX_API_INSTANCES),
        *observability.all_ports(settings),
    ]


def parse(text: str) -> list[Interval]:
    """The kernel's format: comma-separated ports and `first-last` ranges."""
    out: list[Interval] = []
    for part in text.replace("\n", "").split(","):
        if not part.strip():
            continue
        first, _, last = part.strip().partition("-")
        out.append((int(first), int(last or first)))
    return out


def merge(intervals: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for first, last in sorted(intervals):
        if out and first <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], last))
        else:
            out.append((first, last))
    return out


def render(intervals: list[Interval]) -> str:
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in merge(intervals))


def wanted(settings: Settings) -> list[Interval]:
    return merge([(p, p) for p in [*stack_ports(settings), *restore_ports(settings)]])


def missing(settings: Settings, reserved_text: str) -> list[Interval]:
    """Our intervals not (wholly) reserved yet."""
    have = merge(parse(reserved_text))
    return [(a, b) for a, b in wanted(settings) if not any(x <= a and b <= y for x, y in have)]


def reserve(settings: Settings, path: Path = RESERVED_PORTS) -> str | None:
    """Add the stack's ports to the reserved ones (keeping those reserved by others). None
    when they are reserved; otherwise why not (not root, a read-only /proc): the stack runs
    without, with the odd restart failing to bind."""
    try:
        current = path.read_text()
        todo = missing(settings, current)
        if todo:
            path.write_text(render([*parse(current), *todo]) + "\n")
    except OSError as exc:
        return f"could not reserve the stack's ports in {path}: {exc.strerror or exc}"
    return None
