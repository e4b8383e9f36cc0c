"""The synthetic journeys on the running stack: a run by hand passes and its results reach
Prometheus through the worker; with the fake payment provider stopped the payment journey
fails and its page (SyntheticJourneyFailing) reaches the webhook receiver within
FIRE_BOUND seconds; synthetic views leave the listing's analytics alone."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from sichrplace.config import ObservabilityPorts, Settings
from sichrplace.ops.synthetic.accounts import LANDLORD
from sichrplace.platform.db.engines import Database
from sichrplace.stack.layout import Layout
from tests.stack.conftest import ctl

ALERT = "SyntheticJourneyFailing"
# Two runs by hand (~10 s each: the CLI starts, the booking fails at once), then at most a
# scrape (5 s) and an evaluation (5 s), the alert's `for` (30 s) and the page's group_wait
# (10 s): about a minute; the bound leaves room for a loaded machine.
FIRE_BOUND = 120.0
GROUP_INTERVAL = 300.0  # deploy/alertmanager/alertmanager.yml.tmpl
CLI = str(Path(sys.executable).parent / "sichrplace")


def synthetic_run(*journeys: str) -> subprocess.CompletedProcess[str]:
    args = [arg for j in journeys for arg in ("--journey", j)]
    return subprocess.run(
        [CLI, "synthetic", "run", *args], capture_output=True, text=True, timeout=150, check=False
    )


@pytest.fixture(scope="module")
def prometheus(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.stack.prometheus_port}"


def query(prometheus: str, promql: str) -> list[dict[str, Any]]:
    resp = httpx.get(f"{prometheus}/api/v1/query", params={"query": promql}, timeout=5)
    resp.raise_for_status()
    result: list[dict[str, Any]] = resp.json()["data"]["result"]
    return result


def values(prometheus: str, promql: str) -> dict[str, float]:
    return {r["metric"].get("journey", ""): float(r["value"][1]) for r in query(prometheus, promql)}


def test_a_run_passes_and_its_metrics_reach_prometheus(prometheus: str) -> None:
    started = time.time()
    done = synthetic_run()
    assert done.returncode == 0, done.stdout + done.stderr
    # The CLI's own lines (its log lines go to stdout too).
    verdicts = [line.split()[:2] for line in done.stdout.splitlines()]
    assert [v for v in verdicts if v and v[0] in {"search", "payment", "contract"}] == [
        ["search", "PASS"],
        ["payment", "PASS"],
        ["contract", "PASS"],
    ], done.stdout
    deadline = time.monotonic() + 30  # a scrape every 5 s
    while True:
        last = values(
            prometheus, "max by (journey) (sichrplace_synthetic_last_run_timestamp_seconds)"
        )
        fresh = {j for j, at in last.items() if at >= started}
        if fresh == {"search", "payment", "contract"} or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert fresh == {"search", "payment", "contract"}, last
    assert values(prometheus, "min by (journey) (sichrplace_synthetic_success)") == {
        "search": 1.0,
        "payment": 1.0,
        "contract": 1.0,
    }
    steps = query(prometheus, 'sichrplace_synthetic_step_duration_seconds{journey="payment"}')
    assert {r["metric"]["step"] for r in steps} >= {"slot", "book", "intent", "approve", "confirm"}


async def test_synthetic_views_are_not_counted(db: Database, stack_url: str) -> None:
    """The synthetic listing's detail seen with the mark adds no view (the analytics buffer
    writes a second later: 3 s is ample); unmarked, it would."""
    async with db.primary.connect() as conn:
        listing = (
            await conn.execute(
                text("SELECT id FROM listings WHERE owner_id = :o AND status = 'active' LIMIT 1"),
                {"o": LANDLORD.id},
            )
        ).scalar_one()

    async def views() -> int:
        async with db.primary.connect() as conn:
            return int(
                (
                    await conn.execute(
                        text("SELECT count(*) FROM listing_views WHERE listing_id = :l"),
                        {"l": listing},
                    )
                ).scalar_one()
            )

    before = await views()
    async with httpx.AsyncClient(base_url=stack_url, timeout=5) as http:
        for _ in range(3):
            resp = await http.get(f"/api/v1/listings/{listing}", headers={"X-Synthetic": "1"})
            assert resp.status_code == 200
    await asyncio.sleep(3)
    assert await views() == before


def _pages(receiver: str, since: str) -> list[dict[str, Any]]:
    out = []
    for entry in httpx.get(f"{receiver}/teams/page", timeout=5).json():
        if entry["received_at"] > since and ALERT in str(entry["body"]):
            out.append(entry)
    return out


def test_payment_journey_fails_without_the_provider_and_pages(
    prometheus: str, settings: Settings, layout: Layout
) -> None:
    receiver = f"http://127.0.0.1:{ObservabilityPorts(settings.stack.exporters_base_port).webhook_receiver}"
    firing = f'ALERTS{{alertname="{ALERT}",journey="payment",alertstate="firing"}}'
    assert not query(prometheus, firing), "the payment journey's page fires already"
    # Alertmanager sends a group's next notification only group_interval (5 min) after its
    # last one: a run within 5 minutes of the last page would wait that long.
    recent = datetime.now(UTC).timestamp() - GROUP_INTERVAL
    last = [e["received_at"] for e in _pages(receiver, "")]
    assert not last or datetime.fromisoformat(max(last)).timestamp() < recent, (
        f"{ALERT} was notified at {max(last)}: leave 5 minutes between runs"
    )
    since = datetime.now(UTC).isoformat(timespec="microseconds")
    started = time.monotonic()
    ctl(layout, "stop", "stripe-fake")
    try:
        for _ in range(2):
            done = synthetic_run("payment")
            assert done.returncode == 1, done.stdout + done.stderr
            assert "payment   FAIL" in done.stdout, done.stdout
            assert "book=" in done.stdout, done.stdout
        # The provider stays down until the page arrives: a scheduled run meanwhile fails too.
        while not (delivered := _pages(receiver, since)):
            assert time.monotonic() - started < FIRE_BOUND, (
                f"no {ALERT} page within {FIRE_BOUND:.0f} s; "
                f"{query(prometheus, 'sichrplace_synthetic_consecutive_failures')}"
            )
            time.sleep(1)
        elapsed = time.monotonic() - started
    finally:
        ctl(layout, "start", "stripe-fake")
    alert = delivered[0]["body"]["alerts"][0]
    assert (alert["labels"]["alertname"], alert["labels"]["journey"]) == (ALERT, "payment")
    assert alert["labels"]["severity"] == "page"
    print(f"page delivered {elapsed:.0f} s after the provider stopped")
    # Passing again resets the count, so the alert resolves (and the next run can fire it).
    deadline = time.monotonic() + 60  # the API's breaker for the provider may still be open
    while (again := synthetic_run("payment")).returncode != 0:
        assert time.monotonic() < deadline, again.stdout + again.stderr
        time.sleep(2)  # the fake may still be starting
