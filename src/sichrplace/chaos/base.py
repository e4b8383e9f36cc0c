"""The shape of a fault of the matrix: what it breaks, how it puts it back, how long it waits
for the stack to be whole again. The registry of every fault is `sichrplace.chaos.faults`."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sichrplace.config import Settings
from sichrplace.stack.layout import Layout


class FaultError(RuntimeError):
    """A fault could not be injected, cleared or settled (the text says what and why)."""


def _quiet(message: str) -> None:
    return None


@dataclass
class FaultContext:
    """What a fault acts on. `state` carries what `inject` found (a leader's name, a pid, a
    mount) to `clear` and `settle`; one context serves one inject/clear/settle round."""

    settings: Settings
    layout: Layout
    progress: Callable[[str], None] = _quiet
    state: dict[str, Any] = field(default_factory=dict)


Step = Callable[[FaultContext], None]


@dataclass(frozen=True)
class Fault:
    """One fault of the matrix. The three steps block (run them in a thread from async code).

    - `inject(ctx)` breaks the part and returns at once (the fault then holds `hold_s`);
    - `clear(ctx)` puts back what was broken; idempotent, and safe without an inject before;
    - `settle(ctx)` waits until the stack is whole again (raises `FaultError` after
      `settle_timeout_s`).
    """

    name: str
    description: str
    inject: Step
    clear: Step
    settle: Step
    hold_s: float = 15.0
    needs_proxy: bool = False
    quick: bool = False
    settle_timeout_s: float = 120.0


def wait_until(
    what: str, probe: Callable[[], bool], timeout: float, interval: float = 0.3
) -> float:
    """Poll `probe` until it is true; the seconds it took. Exceptions count as not yet."""
    started = time.monotonic()
    deadline = started + timeout
    while True:
        with contextlib.suppress(Exception):  # a part coming back may fail a probe meanwhile
            if probe():
                return time.monotonic() - started
        if time.monotonic() > deadline:
            raise FaultError(f"{what}: not within {timeout:.0f}s")
        time.sleep(interval)
