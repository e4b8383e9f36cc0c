"""The stack's monitoring end to end: Prometheus scrapes every target, records the request
rate, and a real outage's error burst pages through Alertmanager to the webhook receiver."""

from __future__ import annotations

import asyncio
import math
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from sichrplace.config import ObservabilityPorts, Settings
from sichrplace.stack.layout import Layout
from tests.stack.conftest import ctl

PAGE_ALERT = "ApiAvailabilityErrorBudgetBurn"
# The page's short window and threshold (slo.rules.yml: 14.4 x the 0.5% budget).
PAGE_THRESHOLD = 14.4 * 0.005


@pytest.fixture(scope="module")
def prometheus(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.stack.prometheus_port}"


@pytest.fixture(scope="module")
def receiver(settings: Settings) -> str:
    port = ObservabilityPorts(settings.stack.exporters_base_port).webhook_receiver
    return f"http://127.0.0.1:{port}"


def query(prometheus: str, promql: str) -> list[dict[str, Any]]:
    resp = httpx.get(f"{prometheus}/api/v1/query", params={"query": promql}, timeout=5)
    resp.raise_for_status()
    result: list[dict[str, Any]] = resp.json()["data"]["result"]
    return result


def scalar(prometheus: str, promql: str) -> float:
    result = query(prometheus, promql)
    return float(result[0]["value"][1]) if result else 0.0


def targets(prometheus: str) -> list[dict[str, Any]]:
    resp = httpx.get(f"{prometheus}/api/v1/targets", params={"state": "active"}, timeout=5)
    resp.raise_for_status()
    active: list[dict[str, Any]] = resp.json()["data"]["activeTargets"]
    return active


def _values_within(prometheus: str, metric: str, want: list[float], seconds: float) -> list[float]:
    """The metric's values once they are `want`, or as they are after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        values = [float(r["value"][1]) for r in query(prometheus, metric)]
        if values == want or time.monotonic() > deadline:
            return values
        time.sleep(1)


def _refused(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _api_ports(layout: Layout, settings: Settings) -> list[int]:
    names = [line.split()[0] for line in ctl(layout, "status").splitlines() if line]
    count = sum(1 for name in names if name.startswith("api-"))
    return [settings.stack.api_base_port + i for i in range(count)]


def test_status_lists_the_monitoring_programs_with_their_ports(settings: Settings) -> None:
    cli = Path(sys.executable).parent / "sichrplace"
    out = subprocess.run([str(cli), "stack", "status"], capture_output=True, text=True, check=True)
    lines = {line.split()[0]: line for line in out.stdout.splitlines() if line.strip()}
    obs = ObservabilityPorts(settings.stack.exporters_base_port)
    expected = {
        "prometheus": settings.stack.prometheus_port,
        "alertmanager": settings.stack.alertmanager_port,
        "webhook-receiver": obs.webhook_receiver,
        "node-exporter": obs.node_exporter,
        "nginx-exporter": obs.nginx_exporter,
        "blackbox-exporter": obs.blackbox_exporter,
        "redis-exporter": obs.redis_exporter,
        "pgbouncer-exporter": obs.pgbouncer_exporter,
        "postgres-exporter-primary": obs.postgres_exporter_primary,
        "postgres-exporter-replica": obs.postgres_exporter_replica,
    }
    for name, port in expected.items():
        assert name in lines, out.stdout
        assert "RUNNING" in lines[name], lines[name]
        assert f"127.0.0.1:{port}" in lines[name], lines[name]


def test_every_prometheus_target_is_up(prometheus: str, settings: Settings, layout: Layout) -> None:
    obs = ObservabilityPorts(settings.stack.exporters_base_port)
    expected = {("api", f"127.0.0.1:{port}") for port in _api_ports(layout, settings)} | {
        ("worker", f"127.0.0.1:{obs.worker_metrics(1)}"),
        ("nginx", f"127.0.0.1:{obs.nginx_exporter}"),
        ("postgres", f"127.0.0.1:{obs.postgres_exporter_primary}"),
        ("postgres", f"127.0.0.1:{obs.postgres_exporter_replica}"),
        ("pgbouncer", f"127.0.0.1:{obs.pgbouncer_exporter}"),
        ("redis", f"127.0.0.1:{obs.redis_exporter}"),
        ("node", f"127.0.0.1:{obs.node_exporter}"),
        ("blackbox", f"127.0.0.1:{obs.blackbox_exporter}"),
        ("prometheus", f"127.0.0.1:{settings.stack.prometheus_port}"),
        ("alertmanager", f"127.0.0.1:{settings.stack.alertmanager_port}"),
    }
    # A target just (re)started is "unknown" until its first scrape: a bounded wait.
    deadline = time.monotonic() + 30
    while True:
        found = targets(prometheus)
        pending = [t for t in found if t["health"] != "up"]
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(1)
    seen = {(t["labels"]["job"], httpx.URL(t["scrapeUrl"]).netloc.decode()) for t in found}
    assert expected <= seen, expected - seen
    assert not pending, [(t["scrapeUrl"], t["health"], t["lastError"]) for t in pending]
    # Each exporter reaches what it watches (an exporter answers even when its service is
    # down); bounded, as a program restarted by an earlier test may still be starting.
    for metric, count in (("pg_up", 2), ("redis_up", 1), ("nginx_up", 1), ("probe_success", 1)):
        values = _values_within(prometheus, metric, [1.0] * count, seconds=30)
        assert values == [1.0] * count, (metric, values)
    assert scalar(prometheus, 'count(pgbouncer_active_clients{database="sichrplace"})') >= 1
    # The slow-statement query file (the Postgres dashboard's table) runs on the primary.
    assert scalar(prometheus, "count(pg_stat_statements_calls)") >= 1


async def test_request_rate_recording_rule_has_data_after_traffic(
    prometheus: str, stack_url: str
) -> None:
    promql = (
        'sum(job_route_status:sichrplace_http_requests:rate5m{job="api",'
        'route="/api/v1/listings/{listing_id}",status="404"})'
    )
    deadline = time.monotonic() + 45
    async with httpx.AsyncClient(base_url=stack_url, timeout=5) as http:
        # Traffic across several scrapes: a rate needs two samples of the counter.
        while time.monotonic() < deadline:
            for _ in range(5):
                resp = await http.get(f"/api/v1/listings/{uuid.uuid4()}")
                assert resp.status_code == 404
            if scalar(prometheus, promql) > 0:
                return
            await asyncio.sleep(1)
    pytest.fail(f"no data for {promql} within 45 s")


def _page_deliveries(receiver: str, since: str) -> list[dict[str, Any]]:
    """Notifications of the page alert that reached the receiver after `since` (ISO time)."""
    out = []
    for channel in ("/slack/page", "/teams/page"):
        for entry in httpx.get(f"{receiver}{channel}", timeout=5).json():
            if entry["received_at"] > since and PAGE_ALERT in str(entry["body"]):
                out.append(entry)
    return out


async def _error_burst(api_ports: list[int], total: int, seconds: float) -> int:
    """About `total` requests spread evenly over `seconds` on a DB-backed /api route, sent to
    every instance; returns how many were answered 5xx."""
    errors = 0
    batches = max(1, int(seconds))
    per_batch = math.ceil(total / batches)
    clients = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{p}", timeout=5) for p in api_ports]
    try:
        for batch in range(batches):
            started = time.monotonic()
            replies = await asyncio.gather(
                *(
                    clients[(batch + i) % len(clients)].get(f"/api/v1/listings/{uuid.uuid4()}")
                    for i in range(per_batch)
                )
            )
            errors += sum(1 for r in replies if r.status_code >= 500)
            await asyncio.sleep(max(0.0, 1 - (time.monotonic() - started)))
    finally:
        for client in clients:
            await client.aclose()
    return errors


async def _wait_db_serves(api_ports: list[int]) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(timeout=5) as http:
        while time.monotonic() < deadline:
            codes = [
                (await http.get(f"http://127.0.0.1:{p}/api/v1/listings/{uuid.uuid4()}")).status_code
                for p in api_ports
                for _ in range(3)
            ]
            if all(code == 404 for code in codes):
                return
            await asyncio.sleep(0.5)
    raise AssertionError("the API did not serve from the database again within 30 s")


async def test_error_burst_pages_through_alertmanager_to_the_webhook_receiver(
    prometheus: str, receiver: str, settings: Settings, layout: Layout
) -> None:
    """A real outage, not a fault switch in the app: PgBouncer stops, so the API answers its
    DB-backed routes 503 (dependency-unavailable), as it would in production. The committed
    rules are evaluated as they are (1h and 5m windows); the burst is sized from the last
    hour's /api traffic so that it is above the page threshold over both windows."""
    firing = f'ALERTS{{alertname="{PAGE_ALERT}",severity="page",alertstate="firing"}}'
    # A burst this size keeps the page firing until its 30m window is clean (the 6h/30m pair):
    # a run within half an hour of the last finds it firing, and nothing new would be sent.
    assert not query(prometheus, firing), "the page fires already (a burst < 30 min ago?)"
    api_ports = _api_ports(layout, settings)
    last_hour = scalar(
        prometheus, 'sum(increase(sichrplace_http_requests_total{route=~"/api/.*"}[1h]))'
    )
    # Errors at 3x the threshold's share of the hour, so extrapolation and the first scrape
    # of the new 503 series (whose first value no rate counts) cannot keep it below.
    burst = max(300, math.ceil(3 * PAGE_THRESHOLD * last_hour))
    since = datetime.now(UTC).isoformat(timespec="microseconds")
    ctl(layout, "stop", "pgbouncer")
    try:
        # Spread over three scrapes and a bit: a rate needs the counter seen to increase.
        errors = await _error_burst(api_ports, burst, seconds=16)
    finally:
        ctl(layout, "start", "pgbouncer")
    assert errors >= 0.9 * burst, (errors, burst)
    try:
        deadline = time.monotonic() + 60
        while not (delivered := _page_deliveries(receiver, since)):
            assert time.monotonic() < deadline, (
                "no page delivered within 60 s of the burst; rules say "
                f"{query(prometheus, 'slo:sli_error:ratio_rate5m')}, alerts "
                f"{query(prometheus, 'ALERTS')}"
            )
            await asyncio.sleep(1)
        channels = {entry["path"] for entry in delivered}
        # Give the second channel of the same notification a moment.
        if len(channels) < 2:
            await asyncio.sleep(2)
            channels = {entry["path"] for entry in _page_deliveries(receiver, since)}
        assert channels == {"/slack/page", "/teams/page"}, channels
        teams = next(e for e in _page_deliveries(receiver, since) if e["path"] == "/teams/page")
        labels = teams["body"]["alerts"][0]["labels"]
        assert (labels["alertname"], labels["severity"]) == (PAGE_ALERT, "page"), labels
        assert teams["body"]["status"] == "firing"
    finally:
        await _wait_db_serves(api_ports)


def test_webhook_receiver_stores_and_serves_posts(receiver: str, layout: Layout) -> None:
    path = f"/teams/test-{uuid.uuid4().hex[:8]}"
    resp = httpx.post(f"{receiver}{path}", json={"text": "hello", "n": 1}, timeout=5)
    assert (resp.status_code, resp.text) == (200, "ok")
    assert httpx.post(f"{receiver}{path}", content=b"{not json", timeout=5).status_code == 400
    entries = httpx.get(f"{receiver}{path}", timeout=5).json()
    assert [(e["path"], e["body"]) for e in entries] == [(path, {"text": "hello", "n": 1})]
    assert path in layout.webhooks_file.read_text()
