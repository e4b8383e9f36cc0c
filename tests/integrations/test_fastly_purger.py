"""FastlyPurger against a local fake speaking Fastly's purge API (and its failures)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from sichrplace.config import EdgeSettings
from sichrplace.integrations.cdn.fastly import FastlyPurger, PurgeRefused
from sichrplace.platform.resilience import BreakerState, CircuitOpen, DependencyFailed
from tests.fakes.fastly import SERVICE_ID, TOKEN, FakeFastly, run_fake_fastly

MakePurger = Callable[..., FastlyPurger]


@pytest.fixture(scope="module")
def fake_fastly_server() -> Iterator[FakeFastly]:
    with run_fake_fastly() as fake:
        yield fake


@pytest.fixture
def fake(fake_fastly_server: FakeFastly) -> FakeFastly:
    fake_fastly_server.reset()
    return fake_fastly_server


@pytest.fixture
async def make_purger(fake: FakeFastly, unique: str) -> Any:
    made: list[FastlyPurger] = []

    def make(**overrides: Any) -> FastlyPurger:
        values: dict[str, Any] = {
            "fastly_service_id": SERVICE_ID,
            "fastly_api_token": SecretStr(TOKEN),
            "fastly_base_url": fake.url,
            "fastly_timeout_seconds": 0.5,
            "fastly_max_attempts": 4,
            "fastly_breaker_failure_threshold": 50,
        }
        values.update(overrides)
        # Its own breaker per test: breakers are per dependency name and process.
        purger = FastlyPurger(EdgeSettings(**values), dependency=f"fastly_{unique}")
        made.append(purger)
        return purger

    yield make
    for purger in made:
        await purger.aclose()


async def test_a_purge_sends_the_documented_request(
    make_purger: MakePurger, fake: FakeFastly, unique: str
) -> None:
    keys = [f"listing-{unique}", "city-berlin"]
    ids = await make_purger().purge_ids(keys)
    (sent,) = fake.requests
    assert sent.service_id == SERVICE_ID
    assert sent.keys == tuple(keys)  # the Surrogate-Key header, space-separated
    assert sent.token == TOKEN
    assert not sent.soft
    assert set(ids) == set(keys)


async def test_soft_purge_and_batches_of_256(make_purger: MakePurger, fake: FakeFastly) -> None:
    keys = [f"listing-{n}" for n in range(300)]
    await make_purger(fastly_soft_purge=True).purge(keys)
    assert [len(r.keys) for r in fake.requests] == [256, 44]
    assert all(r.soft for r in fake.requests)
    assert fake.purged_keys() == keys


@pytest.mark.parametrize("mode", ["wrong_token", "forbidden"])
async def test_a_refused_token_is_not_retried(
    make_purger: MakePurger, fake: FakeFastly, mode: str
) -> None:
    if mode == "wrong_token":
        purger = make_purger(fastly_api_token=SecretStr("not-the-token-0123456789"))
    else:
        fake.mode = "forbidden"
        purger = make_purger()
    with pytest.raises(PurgeRefused) as refused:
        await purger.purge(["listing-x"])
    assert refused.value.status == (401 if mode == "wrong_token" else 403)
    assert len(fake.requests) == 1


async def test_rate_limited_then_purged_after_retry_after(
    make_purger: MakePurger, fake: FakeFastly
) -> None:
    fake.retry_after = "1"
    fake.queue("rate_limited")
    started = time.monotonic()
    ids = await make_purger().purge_ids(["listing-x"])
    assert time.monotonic() - started >= 0.9  # waited as long as Fastly asked
    assert len(fake.requests) == 2
    assert list(ids) == ["listing-x"]


async def test_server_errors_are_retried_with_backoff(
    make_purger: MakePurger, fake: FakeFastly
) -> None:
    fake.queue("http_500", "http_503")
    await make_purger().purge(["listing-x"])
    assert len(fake.requests) == 3


async def test_a_timeout_is_retried(make_purger: MakePurger, fake: FakeFastly) -> None:
    fake.slow_seconds = 1.0
    fake.queue("slow")
    await make_purger(fastly_timeout_seconds=0.2).purge(["listing-x"])
    assert len(fake.requests) == 2


async def test_an_outage_fails_after_the_last_attempt(
    make_purger: MakePurger, fake: FakeFastly
) -> None:
    fake.mode = "http_503"
    with pytest.raises(DependencyFailed):
        await make_purger(fastly_max_attempts=3).purge(["listing-x"])
    assert len(fake.requests) == 3


async def test_the_breaker_opens_and_stops_calling(
    make_purger: MakePurger, fake: FakeFastly
) -> None:
    fake.mode = "http_500"
    purger = make_purger(fastly_max_attempts=1, fastly_breaker_failure_threshold=2)
    for _ in range(2):
        with pytest.raises(DependencyFailed):
            await purger.purge(["listing-x"])
    assert purger.client.breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpen):
        await purger.purge(["listing-x"])
    assert len(fake.requests) == 2  # the open breaker made no call
