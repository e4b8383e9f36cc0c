"""What Prometheus scrapes in the stack: each job worker's /metrics on its own port, and (once
the stack runs a Prometheus) every dashboard query answered without an error after traffic."""

from __future__ import annotations

import json

import httpx
import pytest

from sichrplace.config import ObservabilityPorts, Settings
from sichrplace.ops.dashboards import build, promql

pytestmark = pytest.mark.stack


async def test_the_stack_worker_serves_its_metrics(settings: Settings) -> None:
    port = ObservabilityPorts(settings.stack.exporters_base_port).worker_metrics(1)
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.get(f"http://127.0.0.1:{port}/metrics")
    assert r.status_code == 200
    for name in ("sichrplace_jobs_queue_depth", "sichrplace_jobs_oldest_age_seconds",
                 "sichrplace_jobs_dead_letters", "sichrplace_db_pool_size"):  # fmt: skip
        assert f"\n{name}{{" in r.text, name


async def test_every_dashboard_query_runs_on_the_stacks_prometheus(
    settings: Settings, stack_url: str
) -> None:
    base = f"http://127.0.0.1:{settings.stack.prometheus_port}"
    async with httpx.AsyncClient(timeout=10) as client:
        try:
            ready = await client.get(f"{base}/-/ready")
        except httpx.TransportError:
            pytest.skip(f"no Prometheus on {base}: the stack does not run one yet")
        if ready.status_code != 200:
            pytest.skip(f"Prometheus on {base} is not ready")
        for _ in range(20):  # traffic for the rate() panels
            await client.get(f"{stack_url}/api/v1/search/listings?city=Berlin")
        failures = []
        for name, text in build.render_all().items():
            for title, expr in build.expressions(json.loads(text)):
                r = await client.get(
                    f"{base}/api/v1/query", params={"query": promql.with_values(expr)}
                )
                body = r.json()
                if r.status_code != 200 or body.get("status") != "success":
                    failures.append(f"{name} / {title}: {body.get('error', r.text)[:200]}")
    assert not failures, failures
