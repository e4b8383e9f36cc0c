"""The chaos matrix's faults against the running stack, without load: each one's inject
really breaks its part, and clear + settle make the stack whole again (the chaos runner's
tests check the invariants under load). The slow ones (primary-kill, replica-stop,
worker-kill) and those through the proxy run by hand (`sichrplace chaos run`); their
mechanics are tested in tests/stack/test_faultproxy.py and their timings are in the docs.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable

import httpx
import psycopg
import pytest
import redis

from sichrplace.chaos import steps
from sichrplace.chaos.faults import FAULTS, FaultContext
from sichrplace.config import Settings
from sichrplace.stack.faults import media
from sichrplace.stack.layout import Layout

pytestmark = pytest.mark.stack

HOLD_S = 1.0


def _redis_up(ctx: FaultContext) -> bool:
    try:
        with redis.Redis(port=ctx.settings.stack.redis_port, socket_timeout=1) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


def _replay_paused(ctx: FaultContext) -> bool:
    node = ctx.state["node"]
    return bool(steps.node_query(ctx, node, "SELECT pg_is_wal_replay_paused()"))


def _pgbouncer_pid_changed(ctx: FaultContext) -> bool:
    return steps.pid(ctx, "pgbouncer") != ctx.state.get("test_pid")


def _stripe_create_fails(ctx: FaultContext) -> bool:
    port = ctx.settings.stack.stripe_fake_port
    pending = httpx.get(f"http://127.0.0.1:{port}/_fake/faults", timeout=5).json()
    return "http_500" in pending.get("create", [])


def _webhooks_held(ctx: FaultContext) -> bool:
    # Holding is only visible in what release answers; a second hold is harmless.
    port = ctx.settings.stack.stripe_fake_port
    return httpx.post(f"http://127.0.0.1:{port}/_fake/hold-webhooks", timeout=5).json()["held"]


def _media_full(ctx: FaultContext) -> bool:
    return all(shutil.disk_usage(f).free == 0 for f in media.folders(ctx.settings))


# Fault -> (what is true while it holds, what is true again once settled). `redis-stop` and
# `api-sigkill` run under load with their invariants in test_chaos_quick.py.
CHECKS: dict[str, tuple[Callable[[FaultContext], bool], Callable[[FaultContext], bool]]] = {
    "replica-lag": (_replay_paused, lambda c: not _replay_paused(c)),
    "pgbouncer-restart": (
        _pgbouncer_pid_changed,
        lambda c: steps.state(c, "pgbouncer") == "RUNNING",
    ),
    "payments-failing": (_stripe_create_fails, lambda c: not _stripe_create_fails(c)),
    "webhooks-reorder": (_webhooks_held, lambda c: True),
    "media-disk-full": (
        _media_full,
        lambda c: not _media_full(c) and not media.is_full(c.settings),
    ),
}


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_fault_breaks_its_part_and_clear_settles(
    settings: Settings, layout: Layout, name: str
) -> None:
    if name == "media-disk-full" and os.geteuid() != 0:
        pytest.skip("needs root (tmpfs)")
    fault = FAULTS[name]
    ctx = FaultContext(settings, layout)
    ctx.state["test_pid"] = steps.pid(ctx, "pgbouncer")
    broken, whole = CHECKS[name]
    started = time.monotonic()
    try:
        fault.inject(ctx)
        time.sleep(HOLD_S)
        assert broken(ctx), f"{name}: not in effect"
    finally:
        fault.clear(ctx)
        fault.settle(ctx)
    assert whole(ctx), f"{name}: not whole after settle"
    assert time.monotonic() - started < fault.settle_timeout_s


def test_clear_without_inject_changes_nothing(settings: Settings, layout: Layout) -> None:
    """Clear is idempotent: the runner may call it after a failed inject."""
    for name in ("redis-stop", "replica-lag", "payments-failing", "media-disk-full"):
        ctx = FaultContext(settings, layout)
        FAULTS[name].clear(ctx)
    assert _redis_up(FaultContext(settings, layout))
    with psycopg.connect(settings.db.direct_dsn, connect_timeout=3) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
