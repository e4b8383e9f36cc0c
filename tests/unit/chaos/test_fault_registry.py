"""The fault registry (sichrplace.chaos.faults): the matrix of issue 20, each fault whole."""

from __future__ import annotations

import pytest

from sichrplace.chaos.faults import FAULTS, QUICK, get

MATRIX = {
    "primary-kill",
    "replica-stop",
    "replica-lag",
    "pgbouncer-restart",
    "redis-stop",
    "redis-slow",
    "pgbouncer-latency",
    "pgbouncer-stall",
    "pgbouncer-reset",
    "redis-latency",
    "redis-stall",
    "redis-reset",
    "api-sigkill",
    "api-sigterm",
    "worker-kill",
    "payments-slow",
    "payments-failing",
    "webhooks-duplicate",
    "webhooks-reorder",
    "media-disk-full",
}


def test_every_fault_of_the_matrix_is_registered_under_its_name() -> None:
    assert set(FAULTS) == MATRIX
    assert all(fault.name == name for name, fault in FAULTS.items())


def test_only_the_proxy_paths_need_the_proxy() -> None:
    proxied = {name for name, fault in FAULTS.items() if fault.needs_proxy}
    assert proxied == {
        f"{path}-{mode}"
        for path in ("pgbouncer", "redis")
        for mode in ("latency", "stall", "reset")
    }


def test_each_fault_is_described_and_bounded() -> None:
    for fault in FAULTS.values():
        assert len(fault.description) > 20, fault.name
        assert 0 < fault.hold_s <= 30, fault.name
        assert fault.hold_s < fault.settle_timeout_s, fault.name
        assert callable(fault.inject)
        assert callable(fault.clear)
        assert callable(fault.settle)


def test_the_quick_subset_is_small_and_leaves_out_the_slow_ones() -> None:
    assert 3 <= len(QUICK) <= 12
    assert "primary-kill" not in QUICK
    assert "worker-kill" not in QUICK


def test_get_names_the_faults_when_one_is_unknown() -> None:
    assert get("redis-stop") is FAULTS["redis-stop"]
    with pytest.raises(KeyError, match="redis-stop"):
        get("meteor")
