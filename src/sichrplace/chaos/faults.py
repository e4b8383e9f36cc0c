"""The fault matrix of issue 20: every fault by name.

`FAULTS[name]` is a `Fault` (see `sichrplace.chaos.base`): `inject(ctx)`, `clear(ctx)`,
`settle(ctx)`, `hold_s`, `needs_proxy`, `quick`, `settle_timeout_s`; a `FaultContext` holds
the settings, the stack's layout, a `progress(str)` callback and the round's `state`.
Faults with `needs_proxy` need the fault proxy in the APIs' paths first
(`sichrplace.stack.faults.placement.arm`); `quick` ones make the test command's subset.
"""

from __future__ import annotations

from sichrplace.chaos import faults_db, faults_media, faults_paths, faults_payments, faults_services
from sichrplace.chaos.base import Fault, FaultContext, FaultError, wait_until

FAULTS: dict[str, Fault] = {
    fault.name: fault
    for fault in (
        *faults_db.FAULTS,
        *faults_services.FAULTS,
        *faults_paths.FAULTS,
        *faults_payments.FAULTS,
        *faults_media.FAULTS,
    )
}

QUICK: tuple[str, ...] = tuple(name for name, fault in FAULTS.items() if fault.quick)


def get(name: str) -> Fault:
    try:
        return FAULTS[name]
    except KeyError:
        raise KeyError(f"no fault {name!r}; faults: {', '.join(FAULTS)}") from None


__all__ = ["FAULTS", "QUICK", "Fault", "FaultContext", "FaultError", "get", "wait_until"]
