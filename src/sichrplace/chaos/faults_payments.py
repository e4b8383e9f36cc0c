"""Faults of the payment provider: the fake Stripe slow, failing, sending webhooks twice or
out of order (its `/_fake/` control routes, stack/fake_payments/common.py)."""

from __future__ import annotations

import threading
from typing import Any

import httpx

from sichrplace.chaos.base import Fault, FaultContext, FaultError, wait_until

SLOW_MS = 1500.0  # below the API's provider timeout: slow, not failing
SLOW_JITTER_MS = 300.0
# payments-failing: the next this many creates and captures answer 500.
FAILING_TIMES = 100_000
DUPLICATES = 2  # webhooks-duplicate: each new event is delivered this many extra times


def _fake(ctx: FaultContext, method: str, path: str, body: Any = None) -> Any:
    url = f"http://127.0.0.1:{ctx.settings.stack.stripe_fake_port}/_fake/{path}"
    try:
        resp = httpx.request(method, url, json=body, timeout=10)
    except httpx.HTTPError as exc:
        raise FaultError(f"fake Stripe {path}: {exc!r}") from exc
    if resp.status_code != 200:
        raise FaultError(f"fake Stripe {path}: {resp.status_code} {resp.text}")
    return resp.json()


def _slow(ctx: FaultContext) -> None:
    _fake(ctx, "POST", "latency", {"ms": SLOW_MS, "jitter_ms": SLOW_JITTER_MS})
    ctx.progress(f"fake Stripe answers {SLOW_MS:.0f} +- {SLOW_JITTER_MS:.0f} ms late")


def _failing(ctx: FaultContext) -> None:
    for op in ("create", "capture"):
        _fake(ctx, "POST", "faults", {"op": op, "fault": "http_500", "times": FAILING_TIMES})
    ctx.progress("fake Stripe answers 500 to every create and capture")


def _clear_faults(ctx: FaultContext) -> None:
    _fake(ctx, "POST", "clear-faults")


def _events(ctx: FaultContext) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = _fake(ctx, "GET", "events")
    return found


def _duplicate(ctx: FaultContext) -> None:
    """Each event the fake emits from now on is delivered DUPLICATES more times."""
    seen = {e["id"] for e in _events(ctx)}
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(0.5):
            try:
                for event in _events(ctx):
                    if event["id"] not in seen:
                        seen.add(event["id"])
                        _fake(
                            ctx, "POST", "redeliver", {"event_id": event["id"], "times": DUPLICATES}
                        )
            except FaultError:
                continue  # the fake is busy or restarting; the next round catches up

    thread = threading.Thread(target=run, name="chaos-webhooks-duplicate", daemon=True)
    ctx.state["duplicating"] = (stop, thread)
    thread.start()
    ctx.progress(f"every new webhook event delivered {DUPLICATES} extra times")


def _stop_duplicating(ctx: FaultContext) -> None:
    running = ctx.state.pop("duplicating", None)
    if running is not None:
        stop, thread = running
        stop.set()
        thread.join(10)


def _hold(ctx: FaultContext) -> None:
    _fake(ctx, "POST", "hold-webhooks")
    ctx.progress("webhooks held (released newest first on clear)")


def _release(ctx: FaultContext) -> None:
    released = _fake(ctx, "POST", "release-webhooks")["released"]
    ctx.progress(f"released {released} held webhook(s), newest first")


def _all_delivered(ctx: FaultContext) -> bool:
    """Every event the fake has made got a 2xx from our webhook endpoint, and no delivery
    was added since the last look (duplicates and retries are done)."""
    events = _events(ctx)
    undelivered = [
        e["id"]
        for e in events
        if not any(d["status"] and 200 <= d["status"] < 300 for d in e["deliveries"])
    ]
    count = sum(len(e["deliveries"]) for e in events)
    previous = ctx.state.get("deliveries_seen")
    ctx.state["deliveries_seen"] = count
    return not undelivered and previous == count


def _settle_webhooks(ctx: FaultContext) -> None:
    ctx.state.pop("deliveries_seen", None)
    took = wait_until("every webhook delivered", lambda: _all_delivered(ctx), 90, interval=1.0)
    ctx.progress(f"every webhook event delivered ({took:.0f}s)")


def _settle_provider(ctx: FaultContext) -> None:
    pending = _fake(ctx, "GET", "latency")
    if pending.get("ms"):
        raise FaultError(f"fake Stripe still slow: {pending}")
    _settle_webhooks(ctx)


FAULTS = [
    Fault(
        name="payments-slow",
        description=f"the fake Stripe answers {SLOW_MS:.0f} ms late (every API call)",
        inject=_slow,
        clear=_clear_faults,
        settle=_settle_provider,
        hold_s=20.0,
    ),
    Fault(
        name="payments-failing",
        description="the fake Stripe answers 500 to every payment intent create and capture",
        inject=_failing,
        clear=_clear_faults,
        settle=_settle_provider,
        hold_s=15.0,
        quick=True,
    ),
    Fault(
        name="webhooks-duplicate",
        description=f"every webhook event is delivered {DUPLICATES + 1} times",
        inject=_duplicate,
        clear=_stop_duplicating,
        settle=_settle_webhooks,
        hold_s=20.0,
    ),
    Fault(
        name="webhooks-reorder",
        description="webhooks are held, then delivered newest first (out of order)",
        inject=_hold,
        clear=_release,
        settle=_settle_webhooks,
        hold_s=20.0,
        quick=True,
    ),
]
