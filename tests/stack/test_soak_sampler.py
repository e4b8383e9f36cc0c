"""One tick of the soak's sampler against the running stack: every process is found, and each
number is plausible for what it counts."""

from __future__ import annotations

import time

from sichrplace.bench.sampler import APP_NAME, Sampler
from sichrplace.config import Settings


def test_one_tick_finds_every_process_and_plausible_numbers(settings: Settings) -> None:
    sampler = Sampler(settings, interval_s=10.0)
    try:
        started = time.monotonic()
        sample = sampler.sample()
        took = time.monotonic() - started
        limits = sampler.read_limits()
    finally:
        sampler.close()
    values = sample.values
    assert sample.errors == []
    assert took < 8, f"a tick took {took:.1f} s: too slow for a 10 s interval"

    stack = settings.stack
    expected = {
        *(f"api-{i}" for i in range(1, stack.api_instances + 1)),
        *(f"worker-{i}" for i in range(1, stack.workers + 1)),
        "pgbouncer",
        "redis",
        "nginx",
        "haproxy",
        "patroni-node1",
        "patroni-node2",
        "postgres-node1",
        "postgres-node2",
    }
    assert set(sample.pids) == expected
    for name in expected:
        assert 1 < values[f"mem_mb/{name}"] < 16_384, name  # MB
        assert values[f"fds/{name}"] >= 3, name  # stdin, stdout, stderr at least
        assert values[f"procs/{name}"] >= 1, name
    assert values["procs/nginx"] >= 2  # the master and its workers
    # A Postgres node's PSS sum counts its shared memory once: below the RSS sum.
    for node in ("postgres-node1", "postgres-node2"):
        assert values[f"mem_mb/{node}"] < values[f"rss_mb/{node}"]
        assert values[f"backends/{node}"] >= 1  # Patroni's own connection at least

    # The leader: the worker's connections, and not the sampler's own.
    assert values["conn/pg.total"] >= 1
    assert any(k.startswith("conn/pg.sichrplace.sichrplace-jobs") for k in values)
    assert not any(k.endswith(f".{APP_NAME}") for k in values)
    assert values["conn/pg.total"] <= limits.pg_connections
    for db in (settings.db.name, settings.db.replica_name):
        assert 0 <= values[f"conn/pgbouncer.{db}.servers"] <= limits.pgbouncer_servers
        assert values[f"conn/pgbouncer.{db}.clients"] >= 0
    assert values["conn/pgbouncer.clients"] >= 1  # our admin connection at least
    assert 1 <= values["conn/redis.clients"] <= limits.redis_clients
    assert values["rps/api"] >= 0  # Prometheus answered

    assert limits.pgbouncer_servers > 0
    assert limits.queue_doing == stack.workers * settings.jobs.concurrency
    assert limits.fds["api-1"] >= 1024
