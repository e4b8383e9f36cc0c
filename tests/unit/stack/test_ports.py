"""Reserving the stack's ports from the ephemeral range: the kernel's list format read and
written, others' reservations kept, nothing written when ours are there already."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sichrplace.config import Settings
from sichrplace.stack import ports
from sichrplace.stack.releases import canary_port


def test_parse_and_render_the_kernels_format() -> None:
    assert ports.parse("") == []
    assert ports.parse("8080,9148-9150\n") == [(8080, 8080), (9148, 9150)]
    assert ports.render([(5, 5), (1, 3), (4, 4), (10, 12), (11, 20)]) == "1-5,10-20"


def test_every_port_of_the_stack_and_the_restore_range_are_wanted() -> None:
    settings = Settings()
    wanted = ports.wanted(settings)

    def covered(port: int) -> bool:
        return any(a <= port <= b for a, b in wanted)

    s = settings.stack
    for port in [
        s.primary_port,
        s.pgbouncer_port,
        s.redis_port,
        s.nginx_port,
        canary_port(settings),
    ]:
        assert covered(port), port
    restore = ports.restore_ports(settings)
    assert all(covered(port) for port in restore)
    assert not covered(restore[-1] + 1)
    assert not set(restore) & set(ports.stack_ports(settings))  # the HA ports among them
    assert len(restore) < ports.RESTORE_PORT_SPAN


def test_reserve_keeps_others_and_adds_ours(tmp_path: Path) -> None:
    settings = Settings()
    sysctl = tmp_path / "ip_local_reserved_ports"
    sysctl.write_text("8080,40000-40010\n")
    assert ports.reserve(settings, sysctl) is None
    after = ports.parse(sysctl.read_text())
    assert (8080, 8080) in after
    assert (40000, 40010) in after
    assert ports.missing(settings, sysctl.read_text()) == []


def test_reserve_writes_nothing_when_ours_are_reserved(tmp_path: Path) -> None:
    settings = Settings()
    sysctl = tmp_path / "ip_local_reserved_ports"
    sysctl.write_text("1024-65535\n")
    before = sysctl.stat().st_mtime_ns
    time.sleep(0.01)
    assert ports.reserve(settings, sysctl) is None
    assert sysctl.stat().st_mtime_ns == before


def test_reserve_reports_why_it_could_not(tmp_path: Path) -> None:
    missing = ports.reserve(Settings(), tmp_path / "absent")
    assert missing is not None
    assert "could not reserve" in missing


@pytest.mark.parametrize("text", ["55432", "55000-55500"])
def test_a_partial_reservation_is_completed(tmp_path: Path, text: str) -> None:
    settings = Settings()
    sysctl = tmp_path / "ip_local_reserved_ports"
    sysctl.write_text(text + "\n")
    assert ports.missing(settings, text)
    assert ports.reserve(settings, sysctl) is None
    assert ports.missing(settings, sysctl.read_text()) == []
