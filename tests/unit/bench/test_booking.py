"""`sichrplace bench booking` without a stack: the race plan, the signed events it sends, the
slots it lays out, the tally and the verdict, and the whole booking phase against a stand-in
for nginx that answers as the API does (first booking of a slot 201, the rest 409)."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from sichrplace.bench import booking, booking_load, booking_setup
from sichrplace.bench.booking_load import Journey, Tally, provider_ref, race_plan
from sichrplace.bench.client import Answer
from sichrplace.config import Settings
from sichrplace.integrations.payments import DEV_STRIPE_WEBHOOK_SECRET
from sichrplace.integrations.payments.stripe import event_from, verify_signature

SECRET = "whsec_" + "k" * 30


# --- the race plan --------------------------------------------------------------------------


def test_each_slot_gets_its_racers_one_after_the_other_all_different() -> None:
    slots = [uuid.uuid4() for _ in range(50)]
    plan = race_plan(slots, tenants=10, racers=4, rng=random.Random(3))
    assert len(plan) == 200
    for i, slot in enumerate(slots):
        group = plan[i * 4 : i * 4 + 4]
        assert {s for s, _ in group} == {slot}
        assert len({t for _, t in group}) == 4
        assert all(0 <= t < 10 for _, t in group)
    assert len({t for _, t in plan}) == 10  # every tenant takes part


def test_more_racers_than_tenants_means_every_tenant_once() -> None:
    plan = race_plan([uuid.uuid4()], tenants=3, racers=8, rng=random.Random(1))
    assert sorted(t for _, t in plan) == [0, 1, 2]


# --- the webhook the benchmark sends --------------------------------------------------------


def test_the_intent_ref_comes_from_the_fake_approval_page() -> None:
    assert provider_ref("http://127.0.0.1:58091/checkout/pi_abc123") == "pi_abc123"
    for url in ("http://127.0.0.1:58091/pay/pi_abc", "http://127.0.0.1:58091/checkout/"):
        with pytest.raises(ValueError, match="approval page"):
            provider_ref(url)


def test_the_event_is_signed_and_read_as_stripe_sends_it() -> None:
    created = int(time.time())
    body = booking_load.succeeded_event(
        "pi_123", 2500, "EUR", event_id="evt_bench0123456789abcdef01", created=created
    )
    header = booking_load.signature_header(SECRET, body, created)
    verify_signature(header, body, SECRET, tolerance_seconds=300, now=time.time())
    with pytest.raises(Exception, match="v1"):
        verify_signature(header, body, SECRET + "x", tolerance_seconds=300, now=time.time())
    event = event_from(orjson.loads(body))
    assert (event.kind, event.provider_ref, event.amount_cents) == (
        "payment_succeeded",
        "pi_123",
        2500,
    )
    assert event.event_id == "evt_bench0123456789abcdef01"


def test_event_ids_have_stripes_shape_and_the_bench_tag() -> None:
    ids = {booking_load.bench_event_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(i.startswith("evt_bench") and len(i) == 28 for i in ids)


def test_the_secret_is_the_one_the_api_resolves(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings.payments, "stripe_webhook_secret", None)
    monkeypatch.setattr(settings.payments, "stripe_webhook_secret_file", None)
    assert booking.webhook_secret(settings) == DEV_STRIPE_WEBHOOK_SECRET
    monkeypatch.setattr(settings.payments, "stripe_webhook_secret", SecretStr(SECRET))
    assert booking.webhook_secret(settings) == SECRET


# --- the tally --------------------------------------------------------------------------------


def test_a_lost_race_is_no_error_but_a_server_error_or_no_answer_is() -> None:
    tally = Tally()
    for status, ms in ((201, 40.0), (409, 10.0), (409, 12.0), (503, 900.0)):
        tally.record("booking_create", status, ms)
    tally.record("booking_create", booking_load.NO_ANSWER, None)
    tally.record("webhook_apply", 500, 5.0)
    m = tally.measurement("booking_create", seconds=2.0)
    assert (m.requests, m.errors, m.rps) == (5, 2, 2.5)
    assert m.p99_ms == 900.0
    assert tally.server_errors() == 2
    assert tally.errors("webhook_apply") == 1
    assert tally.measurement("intent_create", 2.0).requests == 0


# --- the slots --------------------------------------------------------------------------------


def test_slots_are_back_to_back_per_listing_from_tomorrow_or_after_the_last_one() -> None:
    now = datetime(2026, 12, 6, 10, 7, 30, tzinfo=UTC)
    a, b = uuid.uuid4(), uuid.uuid4()
    taken_until = datetime(2026, 12, 9, 12, 0, tzinfo=UTC)
    plan = booking_setup.slot_plan(
        [a, b], {a: None, b: taken_until}, 5, now=now, horizon=timedelta(days=30)
    )
    assert [listing for _, listing, _, _ in plan] == [a, b, a, b, a]
    on_a = [(s, e) for _, listing, s, e in plan if listing == a]
    assert on_a[0][0] == datetime(2026, 12, 7, 10, 15, tzinfo=UTC)  # tomorrow, on the grid
    assert all(e - s == timedelta(minutes=15) for s, e in on_a)
    assert all(prev[1] == nxt[0] for prev, nxt in itertools.pairwise(on_a))
    assert next(s for _, listing, s, _ in plan if listing == b) == taken_until
    assert len({slot for slot, *_ in plan}) == 5


def test_no_slots_beyond_the_horizon() -> None:
    now = datetime(2026, 12, 6, tzinfo=UTC)
    with pytest.raises(RuntimeError, match="no room"):
        booking_setup.slot_plan([uuid.uuid4()], {}, 200, now=now, horizon=timedelta(days=2))


def test_slots_per_run_follow_the_rate_seen() -> None:
    assert booking.slots_for(100.0, 20.0, 4) == 5004
    assert booking.slots_for(0.5, 1.0, 4) == 104  # a floor, whatever the warm-up saw


# --- the verdict ------------------------------------------------------------------------------


def _m(p95: float, rps: float = 100.0) -> dict[str, float]:
    return {"rps": rps, "p50_ms": p95 / 2, "p95_ms": p95, "p99_ms": p95, "errors": 0}


MEDIAN = {
    "booking_create": _m(120),
    "intent_create": _m(90),
    "webhook_apply": _m(60),
    "healthz": _m(10, 2000),
    "me": _m(40, 500),
}
REQUESTS = dict.fromkeys(booking.TARGETS, 100)


def test_all_targets_met_and_no_findings_pass() -> None:
    v = booking.verdicts(MEDIAN, dict.fromkeys(booking.CHECKS, 0), REQUESTS)
    assert v["passed"]
    assert v["targets"]["booking_create"] == {
        "ceiling": "me",
        "p95_target_ms": 150.0,
        "p95_ok": True,
        "p95_ratio": 3.0,
        "rps_ratio": 0.2,
    }
    assert v["targets"]["webhook_apply"]["ceiling"] == "healthz"
    assert "verdict: PASS" in booking.table(MEDIAN, v)


def test_a_slow_operation_a_finding_or_no_figure_fails() -> None:
    slow = {**MEDIAN, "webhook_apply": _m(101)}
    v = booking.verdicts(slow, {}, REQUESTS)
    assert not v["passed"]
    assert not v["targets"]["webhook_apply"]["p95_ok"]
    assert "MISS" in booking.table(slow, v)
    found = booking.verdicts(MEDIAN, {"double_bookings": 1}, REQUESTS)
    assert not found["passed"]
    assert found["checks"]["double_bookings"] == {"count": 1, "ok": False}
    assert "double_bookings 1 FAIL" in booking.table(MEDIAN, found)
    nothing = booking.verdicts(MEDIAN, {}, {**REQUESTS, "intent_create": 0})
    assert not nothing["targets"]["intent_create"]["p95_ok"]
    assert not nothing["passed"]


# --- the booking phase against a stand-in for nginx -------------------------------------------


class FakeStack:
    """Answers as the API and the fake provider do, and remembers what it was asked."""

    def __init__(self) -> None:
        self.booked: dict[str, str] = {}  # slot -> viewing
        self.intents: Counter[str] = Counter()  # viewing -> intent requests
        self.confirmed: list[str] = []  # refs the verified webhooks confirmed
        self.approved: list[str] = []
        self.keys: set[str] = set()

    async def answer(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes | None
    ) -> Answer:
        await asyncio.sleep(0)  # let the other connections in, as a real round trip would
        if path == "/api/v1/viewings":
            assert headers["Authorization"].startswith("Bearer tenant-")
            key = headers["Idempotency-Key"]
            assert key not in self.keys
            self.keys.add(key)
            slot = orjson.loads(body or b"{}")["slot_id"]
            if slot in self.booked:
                return Answer(409, {}, b'{"type": "slot-taken"}')
            viewing = str(uuid.uuid4())
            self.booked[slot] = viewing
            payment = {
                "amount_cents": 2500,
                "currency": "EUR",
                "approval_url": f"http://127.0.0.1:58091/checkout/pi_{viewing[:8]}",
            }
            return Answer(201, {}, orjson.dumps({"id": viewing, "payment": payment}))
        if path == "/api/v1/payments/intents":
            self.intents[orjson.loads(body or b"{}")["viewing_id"]] += 1
            return Answer(201, {}, b"{}")
        if path == booking_load.WEBHOOK_PATH:
            assert body is not None
            verify_signature(
                headers["Stripe-Signature"], body, SECRET, tolerance_seconds=300, now=time.time()
            )
            event = event_from(orjson.loads(body))
            assert event.provider_ref is not None
            self.confirmed.append(event.provider_ref)
            return Answer(200, {}, b'{"received": true, "result": "applied"}')
        if path.startswith("/_fake/approve/"):
            assert self.confirmed  # the provider approves after our event was applied
            self.approved.append(path.rsplit("/", 1)[1])
            return Answer(200, {}, b"{}")
        return Answer(404, {}, b"")


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> FakeStack:
    fake = FakeStack()

    class Conn:
        def __init__(self, base_url: str, **_: Any) -> None:
            self.base_url = base_url

        async def request(
            self,
            method: str,
            path: str,
            *,
            headers: Mapping[str, str] | None = None,
            body: bytes | None = None,
        ) -> Answer:
            return await fake.answer(method, path, headers or {}, body)

        def close(self) -> None:
            pass

    monkeypatch.setattr(booking_load, "Connection", Conn)
    return fake


async def test_tenants_race_and_each_slot_is_paid_once_by_its_winner(stack: FakeStack) -> None:
    slots = [uuid.uuid4() for _ in range(40)]
    plan = race_plan(slots, tenants=12, racers=4, rng=random.Random(7))
    journey = Journey(
        "http://nginx", "http://fake", [f"Bearer tenant-{i}" for i in range(12)], SECRET
    )
    tally, elapsed = await booking_load.booking_phase(journey, plan, concurrency=8, duration_s=30.0)
    assert tally.ran_out  # the plan ended before the time did
    assert elapsed < 30
    assert tally.attempts == 160
    assert tally.count("booking_create", 201) == len(stack.booked) == 40
    assert tally.count("booking_create", 409) == 120
    assert all(n == 1 for n in stack.intents.values())
    assert len(stack.intents) == 40
    assert sorted(tally.refs) == sorted(stack.confirmed) == sorted(stack.approved)
    assert tally.webhook_results == Counter({"applied": 40})
    assert tally.server_errors() == 0
    assert all(tally.errors(op) == 0 for op in booking_load.OPS)
    assert tally.approve_errors == 0


async def test_the_phase_stops_taking_attempts_at_its_deadline(stack: FakeStack) -> None:
    plan = race_plan([uuid.uuid4() for _ in range(10)], tenants=4, racers=2, rng=random.Random())
    journey = Journey("http://nginx", "http://fake", ["Bearer tenant-0"] * 4, SECRET)
    tally, _ = await booking_load.booking_phase(journey, plan, concurrency=4, duration_s=0.0)
    assert tally.attempts == 0
    assert not tally.ran_out


async def test_paced_races_arrive_at_their_rate_whatever_the_answers(stack: FakeStack) -> None:
    plan = race_plan([uuid.uuid4() for _ in range(400)], tenants=12, racers=4, rng=random.Random())
    journey = Journey(
        "http://nginx", "http://fake", [f"Bearer tenant-{i}" for i in range(12)], SECRET
    )
    pace = booking_load.Pace(races_per_s=100.0, racers=4, rng=random.Random(5))
    tally, elapsed = await booking_load.booking_phase(
        journey, plan, concurrency=8, duration_s=0.5, pace=pace
    )
    races = tally.attempts // 4
    assert tally.attempts == races * 4  # a race's attempts arrive together
    assert 25 <= races <= 80  # Poisson around 50
    assert not tally.ran_out
    assert elapsed >= 0.45
    assert tally.count("booking_create", 201) == races
    assert tally.webhook_results == Counter({"applied": races})


async def test_a_paced_booking_counts_its_wait_for_a_free_connection(
    stack: FakeStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One connection, each booking answer taking 20 ms, races arriving far faster: the later
    attempts wait in the queue, and that wait is part of their time (no coordinated omission)."""
    answer = stack.answer

    async def slow(
        method: str, path: str, headers: Mapping[str, str], body: bytes | None
    ) -> Answer:
        if path == "/api/v1/viewings":
            await asyncio.sleep(0.02)
        return await answer(method, path, headers, body)

    monkeypatch.setattr(stack, "answer", slow)
    plan = race_plan([uuid.uuid4() for _ in range(5)], tenants=4, racers=2, rng=random.Random())
    journey = Journey(
        "http://nginx", "http://fake", [f"Bearer tenant-{i}" for i in range(4)], SECRET
    )
    pace = booking_load.Pace(races_per_s=1000.0, racers=2, rng=random.Random(1))
    tally, _ = await booking_load.booking_phase(
        journey, plan, concurrency=1, duration_s=0.05, pace=pace
    )
    assert tally.ran_out
    times = tally.latencies["booking_create"]
    assert len(times) == 10
    assert max(times) > 9 * 20  # the last one waited for the nine before it


def test_a_run_line_names_what_went_wrong_besides_the_counts() -> None:
    phase = {
        "races": 10,
        "seconds": 20.04,
        "bookings_201": 10,
        "bookings_409": 30,
        "paid": 10,
        "webhook_results": {"applied": 10},
        "approve_errors": 1,
        "ran_out_of_slots": True,
    }
    info = {
        "capacity_races_per_s": 14.04,
        "offered_races_per_s": 9.83,
        "races_per_s": 9.51,
        "capacity": {**phase, "seconds": 10.0, "races": 140, "approve_errors": 0},
        "measured": phase,
        "paid": 150,
        "provider_events_applied": 149,
        "db": {"confirmed": 150, "bookings": 150, "charges": 150},
        "wall_s": 31.6,
    }
    line = booking.run_line("2/3", info)
    assert line.startswith(
        "run 2/3: capacity 14.0 races/s (140 in 10.0 s); measured at 9.8 races/s offered,"
        " 9.5 run (10 in 20.0 s); 201 x 20, 409 x 60, paid 150"
    )
    assert "webhooks {'applied': 20}" in line
    assert "provider events applied 149/150" in line
    assert line.endswith(
        "32 s in all; 1 approvals failed; the capacity phase ran out of slots;"
        " the measured phase ran out of slots"
    )
    quiet = {**phase, "approve_errors": 0, "ran_out_of_slots": False}
    calm = booking.run_line("1", {**info, "capacity": quiet, "measured": quiet})
    assert calm.endswith("32 s in all")
