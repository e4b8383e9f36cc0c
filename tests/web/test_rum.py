"""POST /api/v1/rum: the browsers' Core Web Vitals become Prometheus histograms per page
template; malformed, oversized and too many reports are refused with problem+json, and the
reports sent through nginx reach the stack's Prometheus."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from sichrplace.config import Settings
from sichrplace.web.rum import known_pages
from tests.accounts.conftest import client_for, random_ip

RUM = "/api/v1/rum"
PROBLEM = "application/problem+json"


@pytest.fixture
async def browser_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client with an address of its own: the reports' rate is limited per address."""
    async with client_for(app, random_ip()) as client:
        yield client


def report(**changes: Any) -> dict[str, Any]:
    """A report as site.js sends it (a fresh metric id each time)."""
    body: dict[str, Any] = {
        "page": "home",
        "name": "LCP",
        "value": 1234.5,
        "id": f"v5-{time.time_ns()}-{uuid.uuid4().int % 10**13}",
    }
    body.update(changes)
    return body


async def samples(app: FastAPI) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the in-process app's /metrics, by name and labels."""
    async with client_for(app, "127.0.0.1") as client:
        text = (await client.get("/metrics")).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def sample(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def test_the_page_tells_the_browser_the_sample_rate(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    home = await client.get("/")
    body = re.search(r"<body [^>]*>", home.text)
    assert body is not None
    assert 'data-page="home"' in body.group(0)
    assert f'data-rum="{settings.web.rum_sample_rate}"' in body.group(0)


async def test_a_report_is_recorded_in_seconds_under_its_page(
    app: FastAPI, browser_client: httpx.AsyncClient
) -> None:
    before = await samples(app)
    sent = [
        report(page="home", name="LCP", value=1234.5),
        report(page="home", name="INP", value=180),
        report(page="accounts/login", name="CLS", value=0.05),
        report(page="accounts/login", name="TTFB", value=900),
    ]
    for body in sent:
        r = await browser_client.post(RUM, json=body)
        assert r.status_code == 204, r.text
        assert r.content == b""
    after = await samples(app)

    def grew(name: str, **labels: str) -> float:
        return round(sample(after, name, **labels) - sample(before, name, **labels), 6)

    lcp = "sichrplace_web_vitals_lcp_seconds"
    assert grew(f"{lcp}_count", page="home") == 1
    assert grew(f"{lcp}_sum", page="home") == 1.2345  # milliseconds become seconds
    assert grew(f"{lcp}_bucket", page="home", le="1.0") == 0
    assert grew(f"{lcp}_bucket", page="home", le="1.5") == 1
    assert grew(f"{lcp}_bucket", page="home", le="2.5") == 1  # "good"
    inp = "sichrplace_web_vitals_inp_seconds"
    assert grew(f"{inp}_bucket", page="home", le="0.2") == 1
    assert grew(f"{inp}_sum", page="home") == 0.18
    cls = "sichrplace_web_vitals_cls"
    assert grew(f"{cls}_count", page="accounts/login") == 1
    assert grew(f"{cls}_sum", page="accounts/login") == 0.05  # a score: as sent
    assert grew(f"{cls}_bucket", page="accounts/login", le="0.1") == 1
    ttfb = "sichrplace_web_vitals_ttfb_seconds"
    assert grew(f"{ttfb}_bucket", page="accounts/login", le="0.8") == 0
    assert grew(f"{ttfb}_bucket", page="accounts/login", le="1.2") == 1


async def test_a_page_no_template_has_is_recorded_as_other(
    app: FastAPI, browser_client: httpx.AsyncClient
) -> None:
    assert "home" in known_pages()
    assert "account/index" in known_pages()
    assert "base" not in known_pages()
    assert not any(name.rsplit("/", 1)[-1].startswith("_") for name in known_pages())
    before = await samples(app)
    made_up = f"made-up/{uuid.uuid4().hex[:12]}"
    r = await browser_client.post(RUM, json=report(page=made_up))
    assert r.status_code == 204
    after = await samples(app)
    name = "sichrplace_web_vitals_lcp_seconds_count"
    assert sample(after, name, page="other") - sample(before, name, page="other") == 1
    assert not any(dict(labels).get("page") == made_up for _, labels in after)


async def test_a_metric_id_is_recorded_once(
    app: FastAPI, browser_client: httpx.AsyncClient
) -> None:
    """web-vitals sends CLS and INP again, same id, each time the page is hidden after a
    change: only the first report counts."""
    before = await samples(app)
    first = report(name="CLS", value=0.02, page="error")
    again = {**first, "value": 0.3}
    assert (await browser_client.post(RUM, json=first)).status_code == 204
    assert (await browser_client.post(RUM, json=again)).status_code == 204
    after = await samples(app)
    count = "sichrplace_web_vitals_cls_count"
    assert sample(after, count, page="error") - sample(before, count, page="error") == 1
    rejected = "sichrplace_web_vitals_reports_rejected_total"
    assert (
        sample(after, rejected, reason="duplicate") - sample(before, rejected, reason="duplicate")
        == 1
    )


MALFORMED = [
    ("missing name", {"page": "home", "value": 1.0, "id": "v5-1"}, 422, "name"),
    ("unknown vital", report(name="FCP"), 422, "name"),
    ("vital in lower case", report(name="lcp"), 422, "name"),
    ("value as text", report(value="1200"), 422, "value"),
    ("value as a boolean", report(value=True), 422, "value"),
    ("negative value", report(value=-1), 422, "value"),
    ("time over a minute", report(name="TTFB", value=60_001), 422, "value"),
    ("CLS over 10", report(name="CLS", value=10.5), 422, "value"),
    ("page in capitals", report(page="Home"), 422, "page"),
    ("page as a path", report(page="../etc/passwd"), 422, "page"),
    ("page too long", report(page="a" * 41), 422, "page"),
    ("page as a number", report(page=7), 422, "page"),
    ("empty id", report(id=""), 422, "id"),
    ("id too long", report(id="v" * 101), 422, "id"),
    ("id with spaces", report(id="v5 1 2"), 422, "id"),
    ("unknown member", report(url="https://example.com/"), 422, "url"),
    ("a list", [report()], 422, "body"),
]


@pytest.mark.parametrize(
    ("case", "body", "status", "field"), MALFORMED, ids=[c[0] for c in MALFORMED]
)
async def test_a_malformed_report_is_refused_naming_the_field(
    app: FastAPI, browser_client: httpx.AsyncClient, case: str, body: Any, status: int,
    field: str,
) -> None:  # fmt: skip
    before = await samples(app)
    r = await browser_client.post(RUM, json=body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    problem = r.json()
    assert [e["field"] for e in problem["errors"]] == [field], problem
    after = await samples(app)
    rejected = "sichrplace_web_vitals_reports_rejected_total"
    assert (
        sample(after, rejected, reason="invalid") - sample(before, rejected, reason="invalid") == 1
    )
    lcp = "sichrplace_web_vitals_lcp_seconds_count"
    assert sample(after, lcp, page="home") == sample(before, lcp, page="home")


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b'{"page": "home", "name": ', "application/json", 400),
        (b'{"page": "home", "name": "LCP", "value": NaN, "id": "v5-1"}', "application/json", 422),
        (b'{"page": "home", "name": "LCP", "value": 1, "id": "v5-1"}', "text/plain", 415),
    ],
    ids=["malformed JSON", "NaN", "not sent as JSON"],
)
async def test_a_body_that_is_not_a_json_report_is_refused(
    browser_client: httpx.AsyncClient, content: bytes, content_type: str, status: int
) -> None:
    r = await browser_client.post(RUM, content=content, headers={"Content-Type": content_type})
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["errors"][0]["field"] in ("body", "value")


async def test_an_oversized_report_is_413(app: FastAPI, browser_client: httpx.AsyncClient) -> None:
    before = await samples(app)
    big = report(id="v5-1", padding="x" * 2100)
    r = await browser_client.post(RUM, json=big)
    assert r.status_code == 413
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["errors"] == [{"field": "body", "message": "größer als 2048 Bytes"}]

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the size is counted
        yield b'{"page": "home", "name": "LCP", "value": 1, '
        yield b'"id": "' + b"v" * 2100 + b'"}'

    r = await browser_client.post(
        RUM, content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413
    # Exactly the limit is fine as far as the size goes (then the id is too long).
    body = b'{"page":"home","name":"LCP","value":1,"id":"' + b"v" * 2002 + b'"}'
    assert len(body) == 2048
    r = await browser_client.post(RUM, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    after = await samples(app)
    rejected = "sichrplace_web_vitals_reports_rejected_total"
    assert (
        sample(after, rejected, reason="too_large") - sample(before, rejected, reason="too_large")
        == 2
    )


async def test_too_many_reports_from_one_address_are_429(
    app: FastAPI, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings.web, "rum_per_minute", 3)
    async with client_for(app, random_ip()) as one, client_for(app, random_ip()) as other:
        assert (await one.post(RUM, json=report())).status_code == 204
        assert (await one.post(RUM, json=report(name="lcp"))).status_code == 422  # counts too
        assert (await one.post(RUM, json=report())).status_code == 204
        before = await samples(app)
        r = await one.post(RUM, json=report())
        assert r.status_code == 429
        assert r.headers["content-type"] == PROBLEM
        assert r.headers["retry-after"].isdigit()
        assert 1 <= int(r.headers["retry-after"]) <= 60
        assert r.json()["status"] == 429
        after = await samples(app)
        lcp = "sichrplace_web_vitals_lcp_seconds_count"
        assert sample(after, lcp, page="home") == sample(before, lcp, page="home")
        rejected = "sichrplace_web_vitals_reports_rejected_total"
        assert (
            sample(after, rejected, reason="rate_limited")
            - sample(before, rejected, reason="rate_limited")
            == 1
        )
        assert (await other.post(RUM, json=report())).status_code == 204  # per address


async def test_nothing_is_recorded_while_the_sample_rate_is_zero(
    app: FastAPI, settings: Settings, browser_client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr(settings.web, "rum_sample_rate", 0.0)
    home = await browser_client.get("/")
    assert 'data-rum="0.0"' in home.text
    before = await samples(app)
    assert (await browser_client.post(RUM, json=report())).status_code == 204
    after = await samples(app)
    lcp = "sichrplace_web_vitals_lcp_seconds_count"
    assert sample(after, lcp, page="home") == sample(before, lcp, page="home")


async def test_the_endpoint_is_in_the_api_document(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    operation = document["paths"]["/api/v1/rum"]["post"]
    assert operation["tags"] == ["rum"]
    assert "security" not in operation
    assert {"204", "400", "413", "415", "422", "429"} <= set(operation["responses"])
    assert "Retry-After" in operation["responses"]["429"]["headers"]
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["name"]["enum"] == ["LCP", "INP", "CLS", "TTFB"]
    assert schema["properties"]["value"]["maximum"] == 60000


@pytest.mark.stack
async def test_reports_through_nginx_reach_the_stacks_prometheus(
    settings: Settings, stack_url: str
) -> None:
    prometheus = f"http://127.0.0.1:{settings.stack.prometheus_port}"
    query = 'sum(sichrplace_web_vitals_inp_seconds_count{job="api",page="error"})'

    async def recorded(client: httpx.AsyncClient) -> float:
        r = await client.get(f"{prometheus}/api/v1/query", params={"query": query})
        r.raise_for_status()
        result = r.json()["data"]["result"]
        return float(result[0]["value"][1]) if result else 0.0

    async with httpx.AsyncClient(timeout=10) as client:
        before = await recorded(client)
        sent = 6
        for i in range(sent):  # spread over both instances by nginx
            body = report(page="error", name="INP", value=40 + i)
            r = await client.post(f"{stack_url}{RUM}", json=body)
            if r.status_code == 429:
                # Everything here comes from 127.0.0.1, and the browser tests' pages report
                # too: this address may have used its minute's budget. Wait for the next.
                await asyncio.sleep(int(r.headers["retry-after"]) + 0.5)
                r = await client.post(f"{stack_url}{RUM}", json=body)
            assert r.status_code == 204, r.text
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if await recorded(client) >= before + sent:
                return
            await asyncio.sleep(1)
    pytest.fail(f"{query} did not grow by {sent} within 60 s (before: {before})")
