"""Faults on the API's paths to PgBouncer and Redis, through the fault proxy (it must be
armed: `sichrplace stack faultproxy arm`, which the runner does for `needs_proxy` faults)."""

from __future__ import annotations

from sichrplace.chaos import steps
from sichrplace.chaos.base import Fault, FaultContext, FaultError, Step
from sichrplace.stack.faultproxy import is_armed
from sichrplace.stack.faults import control


def _set(path: str, mode: str, **params: float) -> Step:
    def inject(ctx: FaultContext) -> None:
        if not is_armed(ctx.layout):
            raise FaultError("the fault proxy is not in the APIs' paths: arm it first")
        try:
            control.set_mode(ctx.settings, path, mode, **params)
        except control.FaultProxyError as exc:
            raise FaultError(str(exc)) from exc
        ctx.progress(f"{path} path: {mode} {params}")

    return inject


def _pass(path: str) -> Step:
    def clear(ctx: FaultContext) -> None:
        if control.healthy(ctx.settings):
            control.set_mode(ctx.settings, path, "pass")

    return clear


def _settle(ctx: FaultContext) -> None:
    steps.wait_apis_ready(ctx)


def _fault(
    name: str, path: str, mode: str, description: str, hold_s: float, **params: float
) -> Fault:
    return Fault(
        name=name,
        description=description,
        inject=_set(path, mode, **params),
        clear=_pass(path),
        settle=_settle,
        hold_s=hold_s,
        needs_proxy=True,
        # Arming the proxy costs ~1 min (every API restarted, twice): none is in the subset.
        quick=False,
    )


FAULTS = [
    _fault(
        "pgbouncer-latency",
        "pgbouncer",
        "latency",
        "API -> PgBouncer: 20 +- 10 ms added to every chunk each way",
        20.0,
        ms=20,
        jitter_ms=10,
    ),
    _fault(
        "pgbouncer-stall",
        "pgbouncer",
        "stall",
        "API -> PgBouncer: every byte held for 4 s, then delivered",
        8.0,
        seconds=4,
    ),
    _fault(
        "pgbouncer-reset",
        "pgbouncer",
        "reset",
        "API -> PgBouncer: open connections reset (RST), a fifth of new ones too",
        10.0,
        probability=0.2,
    ),
    _fault(
        "redis-latency",
        "redis",
        "latency",
        "API -> Redis: 20 +- 10 ms added to every chunk each way",
        20.0,
        ms=20,
        jitter_ms=10,
    ),
    _fault(
        "redis-stall",
        "redis",
        "stall",
        "API -> Redis: every byte held for 4 s, then delivered",
        8.0,
        seconds=4,
    ),
    _fault(
        "redis-reset",
        "redis",
        "reset",
        "API -> Redis: open connections reset (RST), a fifth of new ones too",
        10.0,
        probability=0.2,
    ),
]
