"""Database metrics: each engine's pool (sampled when Prometheus scrapes, so requests pay
nothing for the gauges), the time checkouts take, and the replica's lag as the health
monitor measures it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.pool import AsyncAdaptedQueuePool, PoolProxiedConnection

POOL_WAIT = Histogram(
    "sichrplace_db_pool_wait_seconds",
    "Time a checkout took to get a connection from the engine's pool (waiting for a free "
    "one, or opening a new one).",
    ["engine"],
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
REPLICA_LAG_SECONDS = Gauge(
    "sichrplace_db_replica_lag_seconds",
    "Seconds since the last transaction the replica replayed, 0 when it has replayed all it "
    "received; NaN while the replica is unreachable.",
)
REPLICA_LAG_BYTES = Gauge(
    "sichrplace_db_replica_lag_bytes",
    "Bytes of WAL between the primary's current position and what the replica has replayed; "
    "NaN while the replica is unreachable.",
)
REPLICA_USABLE = Gauge(
    "sichrplace_db_replica_usable",
    "1 while lag-tolerant reads go to the replica, 0 while they fall back to the primary.",
)

# A process without a replica monitor (a job worker) never measures: unknown, not 0.
for _gauge in (REPLICA_LAG_SECONDS, REPLICA_LAG_BYTES, REPLICA_USABLE):
    _gauge.set(float("nan"))


def timed_pool_class(engine: str) -> type[AsyncAdaptedQueuePool]:
    """A pool class that observes each checkout's duration under `engine`'s label (a class,
    because SQLAlchemy builds the pool itself and `dispose()` rebuilds it from its class)."""
    wait = POOL_WAIT.labels(engine)

    class TimedPool(AsyncAdaptedQueuePool):
        def connect(self) -> PoolProxiedConnection:
            started = time.perf_counter()
            try:
                return super().connect()
            finally:
                wait.observe(time.perf_counter() - started)

    TimedPool.__name__ = TimedPool.__qualname__ = f"TimedPool[{engine}]"
    return TimedPool


class PoolCollector(Collector):
    """Connections in use and idle, and the configured size, of each registered pool, read
    when Prometheus scrapes."""

    def __init__(self) -> None:
        # engine label -> engines (their `.pool` is read: dispose replaces it), oldest first
        self._owners: dict[str, list[Any]] = {}

    def track(self, engine: str, owner: Any) -> None:
        """Report `owner.pool` (an SQLAlchemy engine) as `engine`. A process has one Database;
        where more exist (tests, tools), the oldest one still open is reported."""
        self._owners.setdefault(engine, []).append(owner)

    def forget(self, engine: str, owner: Any) -> None:
        owners = self._owners.get(engine, [])
        if owner in owners:
            owners.remove(owner)

    def collect(self) -> Iterator[Metric]:
        connections = GaugeMetricFamily(
            "sichrplace_db_pool_connections",
            "Connections of the engine's pool by state: in_use (checked out, overflow "
            "included) or idle (open, in the pool).",
            labels=["engine", "state"],
        )
        size = GaugeMetricFamily(
            "sichrplace_db_pool_size",
            "Connections the engine's pool keeps (pool_size; max_overflow more may open).",
            labels=["engine"],
        )
        for engine, owners in sorted(self._owners.items()):
            if not owners:
                continue
            pool = owners[0].pool
            connections.add_metric([engine, "in_use"], pool.checkedout())
            connections.add_metric([engine, "idle"], pool.checkedin())
            size.add_metric([engine], pool.size())
        yield connections
        yield size

    def describe(self) -> Iterator[Metric]:
        # Names known without a pool, so dashboards' checks see them in the registry.
        yield GaugeMetricFamily("sichrplace_db_pool_connections", "", labels=["engine", "state"])
        yield GaugeMetricFamily("sichrplace_db_pool_size", "", labels=["engine"])


POOLS = PoolCollector()
REGISTRY.register(POOLS)


def record_replica(*, usable: bool, reachable: bool, lag_seconds: float, lag_bytes: float) -> None:
    REPLICA_USABLE.set(1 if usable else 0)
    REPLICA_LAG_SECONDS.set(lag_seconds if reachable else float("nan"))
    REPLICA_LAG_BYTES.set(lag_bytes if reachable else float("nan"))
