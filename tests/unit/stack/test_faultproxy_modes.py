"""The fault proxy's modes as the control port parses them, and its ports and placement env."""

from __future__ import annotations

import time

import pytest

from sichrplace.config import Settings
from sichrplace.stack.faultproxy import (
    MAX_STALL_SECONDS,
    FaultProxyPorts,
    Mode,
    proxied_env,
    routes,
)


def test_a_latency_keeps_its_numbers() -> None:
    mode = Mode.parse({"mode": "latency", "ms": 25, "jitter_ms": 5})
    assert (mode.mode, mode.ms, mode.jitter_ms) == ("latency", 25.0, 5.0)
    assert mode.as_json() == {"mode": "latency", "ms": 25.0, "jitter_ms": 5.0}


def test_a_stall_ends_after_its_seconds_or_holds_until_cleared() -> None:
    now = time.monotonic()
    timed = Mode.parse({"mode": "stall", "seconds": 4})
    assert now + 3.9 <= timed.stall_until <= time.monotonic() + 4
    forever = Mode.parse({"mode": "stall"})
    assert forever.stall_until >= now + MAX_STALL_SECONDS - 1


def test_reset_probability_defaults_to_every_connection() -> None:
    assert Mode.parse({"mode": "reset"}).probability == 1.0
    assert Mode.parse({"mode": "reset", "probability": 0.2}).probability == 0.2


@pytest.mark.parametrize(
    "body",
    [
        {"mode": "melt"},
        {"mode": "latency", "ms": -1},
        {"mode": "stall", "seconds": 0},
        {"mode": "stall", "seconds": 7200},
        {"mode": "reset", "probability": 1.5},
    ],
)
def test_impossible_modes_are_refused(body: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"mode|ms|seconds|probability"):
        Mode.parse(body)


def test_paths_and_ports_follow_the_stack_settings(settings: Settings) -> None:
    stack = settings.stack.model_copy(update={"faultproxy_base_port": 40000})
    own = type("S", (), {"stack": stack})()
    ports = FaultProxyPorts(40000)
    assert (ports.control, ports.pgbouncer, ports.redis) == (40000, 40001, 40002)
    by_name = {r.name: r for r in routes(own)}  # type: ignore[arg-type]
    assert by_name["pgbouncer"].listen_port == 40001
    assert by_name["pgbouncer"].upstream_port == stack.pgbouncer_port
    assert by_name["redis"].upstream_port == stack.redis_port
    env = proxied_env(own)  # type: ignore[arg-type]
    assert env == {
        "SICHRPLACE_DB_PORT": "40001",
        "SICHRPLACE_REDIS_URL": "redis://127.0.0.1:40002/0",
    }
