"""The synthetic journeys' metrics, read from the store (Redis) when Prometheus scrapes.

Registered in the default registry on import; the job worker imports it through the
synthetic job (tasks.py) and serves it on its metrics port. Nothing is exported for a
journey that never ran (the staleness alert reads the absence). A scrape while Redis is down
exports nothing from here (the rest of the worker's metrics still come).
"""

from __future__ import annotations

from collections.abc import Iterable

import redis as sync_redis
import structlog
from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sichrplace.config import get_settings
from sichrplace.ops.synthetic import rules, store
from sichrplace.ops.synthetic.records import Stored

log = structlog.get_logger(__name__)

SUCCESS = "sichrplace_synthetic_success"
LAST_RUN = "sichrplace_synthetic_last_run_timestamp_seconds"
LAST_SUCCESS = "sichrplace_synthetic_last_success_timestamp_seconds"
DURATION = "sichrplace_synthetic_duration_seconds"
STEP_DURATION = "sichrplace_synthetic_step_duration_seconds"
FAILED_STEP = "sichrplace_synthetic_failed_step"
CONSECUTIVE = "sichrplace_synthetic_consecutive_failures"
RUNS = "sichrplace_synthetic_runs"


def _families() -> dict[str, GaugeMetricFamily | CounterMetricFamily]:
    j, js = ["journey"], ["journey", "step"]
    return {
        SUCCESS: GaugeMetricFamily(
            SUCCESS, "1 when the journey's last run passed, else 0.", labels=j
        ),
        LAST_RUN: GaugeMetricFamily(LAST_RUN, "When the journey's last run ended.", labels=j),
        LAST_SUCCESS: GaugeMetricFamily(
            LAST_SUCCESS, "When the journey's last passed run ended.", labels=j
        ),
        DURATION: GaugeMetricFamily(DURATION, "How long the journey's last run took.", labels=j),
        STEP_DURATION: GaugeMetricFamily(
            STEP_DURATION,
            "How long each step of the journey's last run took (the failed one until it broke).",
            labels=js,
        ),
        FAILED_STEP: GaugeMetricFamily(
            FAILED_STEP, "1 for the step the journey's last run failed at.", labels=js
        ),
        CONSECUTIVE: GaugeMetricFamily(
            CONSECUTIVE, "Runs of the journey failed in a row (0 after a pass).", labels=j
        ),
        RUNS: CounterMetricFamily(
            RUNS, "Runs of the journey, by outcome (passed, failed).", labels=["journey", "outcome"]
        ),
    }


def collect_results(results: Iterable[Stored]) -> list[Metric]:
    """The metric families for the stored results (pure: tested directly)."""
    fams = _families()
    for r in results:
        fams[SUCCESS].add_metric([r.journey], 1.0 if r.ok else 0.0)
        fams[LAST_RUN].add_metric([r.journey], r.finished_at)
        if r.last_success_at is not None:
            fams[LAST_SUCCESS].add_metric([r.journey], r.last_success_at)
        fams[DURATION].add_metric([r.journey], r.seconds)
        for step in rules.STEPS[r.journey]:
            if step in r.steps:
                fams[STEP_DURATION].add_metric([r.journey, step], r.steps[step])
        if r.failed_step is not None:
            fams[FAILED_STEP].add_metric([r.journey, r.failed_step], 1.0)
        fams[CONSECUTIVE].add_metric([r.journey], float(r.consecutive_failures))
        fams[RUNS].add_metric([r.journey, "passed"], float(r.runs_succeeded))
        fams[RUNS].add_metric([r.journey, "failed"], float(r.runs_failed))
    return [fam for fam in fams.values() if fam.samples]


class SyntheticCollector(Collector):
    def __init__(self) -> None:
        self._client: sync_redis.Redis | None = None

    def _redis(self) -> sync_redis.Redis:
        if self._client is None:
            settings = get_settings().redis
            self._client = sync_redis.Redis.from_url(
                settings.url,
                socket_timeout=settings.socket_timeout_seconds,
                socket_connect_timeout=settings.socket_timeout_seconds,
            )
        return self._client

    def describe(self) -> Iterable[Metric]:
        return list(_families().values())

    def collect(self) -> Iterable[Metric]:
        try:
            results = store.read_all_sync(self._redis())
        except sync_redis.RedisError as exc:
            log.warning("synthetic_metrics_unavailable", error=repr(exc)[:200])
            return []
        return collect_results(results)


COLLECTOR = SyntheticCollector()
REGISTRY.register(COLLECTOR)
