"""HAProxy counts every server UP when it starts, until its checks say otherwise: `stack up`
waits until its write backends send to the leader alone (`nodes.wait_haproxy_leads`) before
anything connects through the write endpoint. Shown with a second HAProxy rendered from the
stack's config on ports of its own, started fresh: once waited for, every connection through
it reaches the leader (before, about every other one reached the standby)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from sichrplace.config import Settings
from sichrplace.stack.ha import nodes, patroni
from sichrplace.stack.ha.config import haproxy_conf, ports
from sichrplace.stack.layout import Layout
from tests.fakes.server import free_port

pytestmark = pytest.mark.stack

CONNECTIONS = 12


@pytest.fixture
def second_haproxy(settings: Settings, tmp_path: Path) -> Iterator[tuple[Layout, int]]:
    """A fresh HAProxy in front of the stack's nodes; its layout (for its admin socket) and
    its write port."""
    second = Layout(tmp_path)
    second.pg_socket.mkdir(parents=True)
    write, read, stats = free_port(), free_port(), free_port()
    s = settings.stack
    conf = haproxy_conf(settings, second)
    for mine, theirs in [
        (s.primary_port, write),
        (s.replica_port, read),
        (ports(settings).haproxy_stats, stats),
    ]:
        assert f"bind 127.0.0.1:{mine}\n" in conf
        conf = conf.replace(f"bind 127.0.0.1:{mine}\n", f"bind 127.0.0.1:{theirs}\n")
    path = tmp_path / "haproxy.cfg"
    path.write_text(conf)
    proc = subprocess.Popen(
        ["/usr/sbin/haproxy", "-db", "-f", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield second, write
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_fresh_haproxy_once_waited_for_sends_every_write_connection_to_the_leader(
    settings: Settings, second_haproxy: tuple[Layout, int]
) -> None:
    layout, write_port = second_haproxy
    leader = patroni.wait_leader(settings)
    nodes.wait_haproxy_leads(layout, leader, timeout=20)
    db = settings.db
    in_recovery = []
    for _ in range(CONNECTIONS):
        with psycopg.connect(
            host="127.0.0.1",
            port=write_port,
            user=db.user,
            password=db.password.get_secret_value(),
            dbname=db.name,
            connect_timeout=5,
        ) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            assert row is not None
            in_recovery.append(row[0])
    assert in_recovery == [False] * CONNECTIONS
