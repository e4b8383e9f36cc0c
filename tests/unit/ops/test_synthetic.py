"""The synthetic journeys' pure parts: the synthetic mark (ids, header, context), what a run
stores and exports, the journeys' helpers, and that counters and analytics skip synthetic
events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.types import Receive, Scope, Send

from sichrplace.ops.synthetic import journeys, metrics, rules
from sichrplace.ops.synthetic.records import JourneyResult, StepResult
from sichrplace.platform import analytics, synthetic
from sichrplace.platform.analytics.buffer import EventBuffer
from sichrplace.platform.analytics.events import Batch
from sichrplace.platform.http.middleware import RequestIdMiddleware
from sichrplace.platform.observability import business


def test_synthetic_ids_are_recognised_and_random_ids_are_not() -> None:
    ids = [synthetic.synthetic_user_id(n) for n in (0, 1, 2, 2**32 - 1)]
    assert all(synthetic.is_synthetic_user(i) for i in ids)
    assert len(set(ids)) == 4
    assert not any(synthetic.is_synthetic_user(uuid.uuid4()) for _ in range(10_000))
    with pytest.raises(ValueError, match="out of range"):
        synthetic.synthetic_user_id(2**32)


def test_header_values_and_the_context_mark() -> None:
    assert synthetic.header_marks(b"1")
    assert synthetic.header_marks(b" True ")
    assert not any(synthetic.header_marks(v) for v in (None, b"", b"0", b"no"))
    real = uuid.uuid4()
    assert not synthetic.active()
    assert not synthetic.excluded(real, None)
    assert synthetic.excluded(real, synthetic.synthetic_user_id(7))
    with synthetic.marked():
        assert synthetic.active()
        assert synthetic.excluded(real)
        with synthetic.marked(False):  # an inner block cannot unmark its request
            assert synthetic.active()
    assert not synthetic.active()


async def test_the_request_id_middleware_marks_requests_with_the_header() -> None:
    seen: list[bool] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(synthetic.active())

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    async def send(message: Any) -> None:
        return None

    middleware = RequestIdMiddleware(app)
    for headers in ([(b"x-synthetic", b"1")], [], [(b"x-synthetic", b"0")]):
        await middleware({"type": "http", "headers": headers}, receive, send)
    assert seen == [True, False, False]
    assert not synthetic.active()


def _value(counter: Any) -> float:
    return float(counter._value.get())


def test_failed_bookings_and_payments_of_synthetic_parties_are_not_counted() -> None:
    failed = business.PAYMENTS.labels("failed")
    before = _value(failed)
    business.failed_now("payment", parties=(synthetic.synthetic_user_id(1),))
    with synthetic.marked():
        business.failed_now("payment", parties=(uuid.uuid4(),))
    assert _value(failed) == before
    business.failed_now("payment", parties=(uuid.uuid4(),))
    assert _value(failed) == before + 1


async def test_analytics_skips_marked_views_and_searches() -> None:
    async def sink(batch: Batch) -> None:
        return None

    buffer = EventBuffer(sink)
    analytics.install(buffer)
    try:
        listing = uuid.uuid4()
        with synthetic.marked():
            analytics.record_view(listing)
            analytics.record_search(
                city_key="berlin",
                filters=(),
                sort="newest",
                results=1,
                latency_ms=1.0,
                cache="miss",
                next_page=False,
            )
        assert buffer.pending == 0
        analytics.record_view(listing)
        assert buffer.pending == 1
    finally:
        analytics.uninstall(buffer)


def _result(ok: bool, **extra: Any) -> JourneyResult:
    steps = (StepResult("slot", True, 0.05), StepResult("book", ok, 0.5))
    error = None if ok else "POST /api/v1/viewings answered 503"
    return JourneyResult("payment", 1000.0, 1002.5, steps, error, **extra)


def test_a_result_round_trips_through_the_stored_fields() -> None:
    failed = rules.result_fields(_result(False))
    assert "last_success_at" not in failed  # a failure keeps the last success's time
    raw = {k.encode(): v for k, v in failed.items()}
    raw |= {b"consecutive_failures": b"2", b"runs_failed": b"2", b"runs_succeeded": b"5"}
    raw[b"last_success_at"] = b"900.0"
    stored = rules.stored("payment", raw)
    assert stored is not None
    assert (stored.ok, stored.failed_step, stored.finished_at, stored.seconds) == (
        False,
        "book",
        1002.5,
        2.5,
    )
    assert stored.steps == {"slot": 0.05, "book": 0.5}
    assert (stored.consecutive_failures, stored.runs_failed, stored.runs_succeeded) == (2, 2, 5)
    assert stored.last_success_at == 900.0
    assert rules.result_fields(_result(True))["last_success_at"] == b"1002.5"
    assert rules.stored("payment", {}) is None
    # A step name the code does not declare never becomes a label value.
    raw[b"steps"] = b'{"slot": 0.1, "<script>": 9}'
    raw[b"failed_step"] = b"nonsense"
    odd = rules.stored("payment", raw)
    assert odd is not None
    assert odd.steps == {"slot": 0.1}
    assert odd.failed_step is None


def test_the_collector_exports_a_stored_result() -> None:
    raw = {k.encode(): v for k, v in rules.result_fields(_result(False)).items()}
    raw[b"consecutive_failures"] = b"3"
    stored = rules.stored("payment", raw)
    assert stored is not None
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in metrics.collect_results([stored])
        for s in fam.samples
    }
    j = (("journey", "payment"),)
    assert samples[("sichrplace_synthetic_success", j)] == 0.0
    assert samples[("sichrplace_synthetic_last_run_timestamp_seconds", j)] == 1002.5
    assert samples[("sichrplace_synthetic_consecutive_failures", j)] == 3.0
    assert samples[("sichrplace_synthetic_failed_step", (*j, ("step", "book")))] == 1.0
    assert samples[("sichrplace_synthetic_step_duration_seconds", (*j, ("step", "slot")))] == 0.05
    assert samples[("sichrplace_synthetic_runs_total", (*j, ("outcome", "failed")))] == 0.0
    assert ("sichrplace_synthetic_last_success_timestamp_seconds", j) not in samples
    assert metrics.collect_results([]) == []


def test_slots_are_quarter_hours_within_the_apis_horizon() -> None:
    now = datetime(2026, 12, 7, 10, 7, 33, tzinfo=UTC)
    for _ in range(200):
        start = journeys.slot_start(now)
        assert start.minute % 15 == 0
        assert start.second == 0
        assert now + timedelta(days=13) < start < now + timedelta(days=135)


def test_the_approval_target_is_read_from_the_checkout_url() -> None:
    assert journeys.approval_target("http://127.0.0.1:58091/checkout/pi_123") == (
        "http://127.0.0.1:58091",
        "pi_123",
    )
    with pytest.raises(journeys.JourneyError):
        journeys.approval_target("https://example.com/pay")


def test_every_journey_has_its_steps_and_runner() -> None:
    assert set(rules.STEPS) == set(journeys.JOURNEYS) == {"search", "payment", "contract"}
    with pytest.raises(ValueError, match="unknown journey"):
        rules.check_journey("checkout")
