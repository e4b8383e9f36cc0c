"""The timed part of `sichrplace bench booking`: tenants racing for slots through nginx, the
winners paying, signed webhooks arriving, and the ceilings measured with the same client.

Each of `concurrency` tasks owns one keep-alive connection to nginx. Attempts (slot, tenant)
come from one shared plan in which the `racers` attempts at a slot are adjacent, so they are
sent at about the same moment: one gets 201 and the rest 409. Two ways to send them:

- closed (the capacity phase): a free task takes the next attempt at once, so the phase runs
  as fast as the stack answers;
- open (the measured phase, a `Pace`): races arrive at random times at a given rate whatever
  the answers, and an attempt's booking time counts from its arrival, its wait for a free
  connection included.

The winner goes on, on its connection: `POST /payments/intents` for the booking
(Idempotency-Key), then a `payment_intent.succeeded` event for the booking's intent, signed
with the endpoint secret as Stripe signs it, to the webhook endpoint; that request is the
webhook's measured apply (verify, store, confirm the booking, ledger). Then the payer
approves at the stack's fake Stripe (a few connections of their own, not timed), which
delivers its own signed event through nginx while the run goes on: the provider and our
rows end in agreement, and its late event must change nothing.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import orjson

from sichrplace.bench.client import Answer, Connection, ProtocolError
from sichrplace.bench.load import Measurement, _percentile
from sichrplace.integrations.payments.stripe import API_VERSION, signature_header

OPS = ("booking_create", "intent_create", "webhook_apply")
CEILINGS = ("healthz", "me")
# Answers that are the operation working as meant (a lost race is 409, not an error).
EXPECTED: dict[str, frozenset[int]] = {
    "booking_create": frozenset({201, 409}),
    "intent_create": frozenset({201}),
    "webhook_apply": frozenset({200}),
    "healthz": frozenset({200}),
    "me": frozenset({200}),
}
CEILING_PATHS = {"healthz": "/healthz", "me": "/api/v1/me"}
WEBHOOK_PATH = "/api/v1/payments/webhooks/stripe"
NO_ANSWER = 0  # the status recorded for a timeout, a reset or an unreadable answer
APPROVERS = 2

Attempt = tuple[uuid.UUID, int]  # (slot, index of the tenant)
# An attempt and its scheduled start (perf_counter seconds; None: sent when taken).
Scheduled = tuple[Attempt, float | None]


@dataclass(frozen=True)
class Pace:
    """The open model's arrivals: races per second (Poisson), attempts per race."""

    races_per_s: float
    racers: int
    rng: random.Random


@dataclass
class Tally:
    """What one phase saw: latencies (ms) and statuses per operation, webhook results."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    webhook_results: Counter[str] = field(default_factory=Counter)
    refs: list[str] = field(default_factory=list)  # provider refs of the payments made
    attempts: int = 0
    approve_errors: int = 0
    ran_out: bool = False

    def record(self, op: str, status: int, ms: float | None) -> None:
        self.statuses.setdefault(op, Counter())[status] += 1
        if ms is not None:
            self.latencies.setdefault(op, []).append(ms)

    def count(self, op: str, status: int) -> int:
        return self.statuses.get(op, Counter())[status]

    def server_errors(self) -> int:
        return sum(n for c in self.statuses.values() for s, n in c.items() if s >= 500)

    def errors(self, op: str) -> int:
        """Answers other than the expected ones, and requests without an answer."""
        return sum(n for s, n in self.statuses.get(op, Counter()).items() if s not in EXPECTED[op])

    def requests(self) -> int:
        return sum(sum(c.values()) for c in self.statuses.values())

    def measurement(self, op: str, seconds: float) -> Measurement:
        values = sorted(self.latencies.get(op, []))
        answered = sum(self.statuses.get(op, Counter()).values())
        return Measurement(
            rps=round(answered / seconds, 1) if seconds > 0 else 0.0,
            p50_ms=round(_percentile(values, 50), 3),
            p95_ms=round(_percentile(values, 95), 3),
            p99_ms=round(_percentile(values, 99), 3),
            errors=self.errors(op),
            requests=answered,
        )


def race_plan(
    slots: Sequence[uuid.UUID], tenants: int, racers: int, rng: random.Random
) -> list[Attempt]:
    """Per slot, `racers` distinct tenants (drawn at random) one after the other."""
    racers = max(1, min(racers, tenants))
    return [(slot, t) for slot in slots for t in rng.sample(range(tenants), racers)]


def provider_ref(approval_url: str) -> str:
    """The intent's id from the fake provider's approval page URL (`.../checkout/<ref>`)."""
    parts = urlsplit(approval_url).path.rstrip("/").split("/")
    if len(parts) < 2 or parts[-2] != "checkout" or not parts[-1]:
        raise ValueError(f"not an approval page of the stack's fake Stripe: {approval_url!r}")
    return parts[-1]


def succeeded_event(
    ref: str, amount_cents: int, currency: str, *, event_id: str, created: int
) -> bytes:
    """A `payment_intent.succeeded` event for the intent, in Stripe's wire format."""
    intent = {
        "id": ref,
        "object": "payment_intent",
        "amount": amount_cents,
        "amount_received": amount_cents,
        "capture_method": "automatic",
        "created": created,
        "currency": currency.lower(),
        "last_payment_error": None,
        "livemode": False,
        "metadata": {},
        "next_action": None,
        "status": "succeeded",
    }
    return orjson.dumps(
        {
            "id": event_id,
            "object": "event",
            "api_version": API_VERSION,
            "created": created,
            "data": {"object": intent},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": "payment_intent.succeeded",
        }
    )


def bench_event_id() -> str:
    """Stripe's shape (`evt_` and 24 characters), tagged as the benchmark's."""
    return "evt_bench" + secrets.token_hex(10)[:19]


@dataclass(frozen=True)
class Journey:
    base_url: str
    fake_url: str
    tenants: Sequence[str]  # each tenant's Authorization header value
    webhook_secret: str


JSON = "application/json"


async def _timed(
    conn: Connection,
    tally: Tally,
    op: str,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes | None = None,
    *,
    since: float | None = None,
) -> Answer | None:
    """One request, timed from `since` (a paced attempt's scheduled start, so the time it
    waited for a free connection counts) or from now."""
    started = time.perf_counter() if since is None else since
    try:
        answer = await conn.request(method, path, headers=headers, body=body)
    except (OSError, TimeoutError, asyncio.IncompleteReadError, ProtocolError):
        tally.record(op, NO_ANSWER, None)
        return None
    tally.record(op, answer.status, (time.perf_counter() - started) * 1000)
    return answer


async def _pay(
    conn: Connection, tally: Tally, journey: Journey, auth: str, booking: dict[str, object]
) -> str | None:
    """The winner's part: the intent request, then the provider's success event."""
    payment = booking["payment"]
    assert isinstance(payment, dict)
    intent = await _timed(
        conn,
        tally,
        "intent_create",
        "POST",
        "/api/v1/payments/intents",
        {"Authorization": auth, "Content-Type": JSON, "Idempotency-Key": str(uuid.uuid4())},
        orjson.dumps({"purpose": "viewing_fee", "viewing_id": booking["id"]}),
    )
    ref = provider_ref(str(payment["approval_url"]))
    if intent is None or intent.status != 201:
        return None
    created = int(time.time())
    body = succeeded_event(
        ref,
        int(payment["amount_cents"]),
        str(payment["currency"]),
        event_id=bench_event_id(),
        created=created,
    )
    signed = signature_header(journey.webhook_secret, body, created)
    answer = await _timed(
        conn,
        tally,
        "webhook_apply",
        "POST",
        WEBHOOK_PATH,
        {"Content-Type": JSON, "Stripe-Signature": signed},
        body,
    )
    if answer is not None and answer.status == 200:
        tally.webhook_results[str(orjson.loads(answer.body).get("result"))] += 1
    return ref


async def _racer(
    conn: Connection,
    next_attempt: Callable[[], Awaitable[Scheduled | None]],
    journey: Journey,
    tally: Tally,
    approvals: asyncio.Queue[str | None],
) -> None:
    while (scheduled := await next_attempt()) is not None:
        (slot_id, tenant), due = scheduled
        tally.attempts += 1
        auth = journey.tenants[tenant]
        answer = await _timed(
            conn,
            tally,
            "booking_create",
            "POST",
            "/api/v1/viewings",
            {"Authorization": auth, "Content-Type": JSON, "Idempotency-Key": str(uuid.uuid4())},
            orjson.dumps({"slot_id": str(slot_id)}),
            since=due,
        )
        if answer is None or answer.status != 201:
            continue
        ref = await _pay(conn, tally, journey, auth, orjson.loads(answer.body))
        if ref is not None:
            tally.refs.append(ref)
            approvals.put_nowait(ref)


def _closed(
    attempts: Iterator[Attempt], deadline: float, tally: Tally
) -> Callable[[], Awaitable[Scheduled | None]]:
    """Closed model: a free connection takes the next attempt at once, until the deadline."""

    async def take() -> Scheduled | None:
        if time.perf_counter() >= deadline:
            return None
        attempt = next(attempts, None)
        if attempt is None:
            tally.ran_out = True
        return None if attempt is None else (attempt, None)

    return take


async def _arrivals(
    attempts: Iterator[Attempt],
    queue: asyncio.Queue[Scheduled | None],
    *,
    rate: float,
    racers: int,
    deadline: float,
    rng: random.Random,
    tally: Tally,
) -> None:
    """Open model: races arrive at random (Poisson) times, `rate` per second on average;
    the attempts of a race are queued together with their scheduled start. Arrivals do not
    wait for answers: when every connection is busy, attempts queue and their wait counts."""
    due = time.perf_counter()
    while True:
        due += rng.expovariate(rate)
        if due >= deadline:
            return
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        race = list(itertools.islice(attempts, racers))
        if not race:
            tally.ran_out = True
            return
        for attempt in race:
            queue.put_nowait((attempt, due))


async def _approver(conn: Connection, approvals: asyncio.Queue[str | None], tally: Tally) -> None:
    """The payer approves at the provider's page (the fake's control route does the same)."""
    while (ref := await approvals.get()) is not None:
        try:
            answer = await conn.request("POST", f"/_fake/approve/{ref}")
            if answer.status != 200:
                tally.approve_errors += 1
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ProtocolError):
            tally.approve_errors += 1
    conn.close()


async def booking_phase(
    journey: Journey,
    plan: Sequence[Attempt],
    *,
    concurrency: int,
    duration_s: float,
    pace: Pace | None = None,
) -> tuple[Tally, float]:
    """Race through `plan` for `duration_s` (or until it runs out); the tally and the
    seconds until the last answer. Without `pace` every connection sends its next attempt
    as soon as it has its answer (closed model: the phase runs at the stack's capacity);
    with it, races arrive at the pace's rate (open model). Approvals still queued are sent
    before returning."""
    tally = Tally()
    approvals: asyncio.Queue[str | None] = asyncio.Queue()
    approvers = [
        asyncio.create_task(_approver(Connection(journey.fake_url), approvals, tally))
        for _ in range(APPROVERS)
    ]
    conns = [Connection(journey.base_url) for _ in range(concurrency)]
    attempts = iter(plan)
    started = time.perf_counter()
    deadline = started + duration_s
    arrivals: asyncio.Task[None] | None = None
    if pace is None:
        take = _closed(attempts, deadline, tally)
    else:
        queue: asyncio.Queue[Scheduled | None] = asyncio.Queue()
        take = queue.get

        async def arrive() -> None:
            try:
                await _arrivals(
                    attempts,
                    queue,
                    rate=pace.races_per_s,
                    racers=pace.racers,
                    deadline=deadline,
                    rng=pace.rng,
                    tally=tally,
                )
            finally:
                for _ in conns:
                    queue.put_nowait(None)

        arrivals = asyncio.create_task(arrive())
    try:
        await asyncio.gather(*(_racer(c, take, journey, tally, approvals) for c in conns))
        elapsed = time.perf_counter() - started
    finally:
        if arrivals is not None:
            arrivals.cancel()
        for conn in conns:
            conn.close()
        for _ in approvers:
            approvals.put_nowait(None)
        await asyncio.gather(*approvers)
    return tally, elapsed


async def ceiling_phase(
    journey: Journey, op: str, *, concurrency: int, duration_s: float
) -> tuple[Tally, float]:
    """A trivial endpoint through nginx with the same client: `healthz` (no database) or
    `me` (a tenant's token checked, one read of the primary)."""
    tally = Tally()
    path = CEILING_PATHS[op]

    async def loop(conn: Connection, offset: int) -> None:
        i = offset
        while time.monotonic() < deadline:
            headers = (
                {"Authorization": journey.tenants[i % len(journey.tenants)]} if op == "me" else {}
            )
            await _timed(conn, tally, op, "GET", path, headers)
            i += 1
        conn.close()

    started = time.monotonic()
    deadline = started + duration_s
    await asyncio.gather(*(loop(Connection(journey.base_url), i * 7) for i in range(concurrency)))
    return tally, time.monotonic() - started
