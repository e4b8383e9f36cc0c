"""The timed part of `sichrplace bench messaging`: messages sent through nginx, and what the
stream holders received of them, accounted for.

Each of `concurrency` tasks owns one keep-alive connection to nginx (`bench.client`). Sends
come from one endless plan: the users in a shuffled order, over and over, each writing to
the partner of its conversation, so every user sends at the same pace (the API limits
sends per user). Two ways to send them, as in `bench booking`:

- closed (the capacity phase): a free task sends the next message at once, so the phase runs
  as fast as the stack answers;
- open (the measured phase, a `Pace`): messages arrive at random (Poisson) times at a given
  rate whatever the answers; a send's time counts from its arrival, its wait for a free
  connection included (no coordinated omission).

A message is `POST /api/v1/conversations/{id}/messages {body, client_message_id}`; its 201
carries the message's id, which the `message.created` events on the streams carry too.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import orjson
import redis.asyncio as aioredis

from sichrplace.bench.client import Connection, ProtocolError
from sichrplace.bench.load import Measurement, _percentile
from sichrplace.bench.messaging_streams import Receipt

NO_ANSWER = 0  # the status recorded for a timeout, a reset or an unreadable answer
CEILING_PATHS = {"healthz": "/healthz", "me": "/api/v1/me"}
JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Pair:
    """A conversation and its two participants (indexes into the cast's users)."""

    conversation: uuid.UUID
    tenant: int
    landlord: int


@dataclass(frozen=True, slots=True)
class Plan:
    """Who writes in which conversation to whom: `(sender, recipient, conversation)`."""

    pairs: Sequence[Pair]

    def senders(self, rng: random.Random) -> Iterator[tuple[int, int, uuid.UUID]]:
        """Every participant once in a shuffled order, then again in another, endlessly."""
        sides = [(p.tenant, p.landlord, p.conversation) for p in self.pairs]
        sides += [(p.landlord, p.tenant, p.conversation) for p in self.pairs]
        while True:
            rng.shuffle(sides)
            yield from sides


@dataclass(slots=True)
class Send:
    sender: int
    recipient: int
    conversation: uuid.UUID
    started: float  # time.monotonic(): the arrival (open model) or when it was sent
    status: int = NO_ANSWER
    answered: float | None = None
    message_id: str | None = None


@dataclass(frozen=True)
class Pace:
    """The open model's arrivals: messages per second (Poisson)."""

    rate: float
    rng: random.Random


@dataclass
class Delivery:
    """What the streams made of a phase's sends."""

    latencies_ms: list[float] = field(default_factory=list)  # send start -> last recipient stream
    first_ms: list[float] = field(default_factory=list)  # send start -> first recipient stream
    # The 201's arrival -> last recipient stream: the event path's own share (below 0: the
    # event came before the answer)
    after_answer_ms: list[float] = field(default_factory=list)
    expected: int = 0  # (stream, message) pairs that should have arrived
    received: int = 0
    lost: int = 0  # expected pairs that never arrived
    duplicated: int = 0  # arrivals beyond the first of a pair
    strays: int = 0  # arrivals of messages this phase did not see answered 201
    messages_lost: int = 0  # messages missing on at least one of their streams


def expected_streams(
    send: Send, streams_of: Mapping[int, Sequence[int]]
) -> tuple[Sequence[int], Sequence[int]]:
    """The streams that must carry a sent message: the recipient's, and the sender's own
    (both participants get `message.created`)."""
    return streams_of.get(send.recipient, ()), streams_of.get(send.sender, ())


def account(
    sends: Sequence[Send], receipts: Sequence[Receipt], streams_of: Mapping[int, Sequence[int]]
) -> Delivery:
    """Each message answered 201 must arrive exactly once on every stream of its recipient
    and of its sender; its send-to-receive time is from the send's start to its arrival on
    the last of the recipient's streams (the slowest of them: each is a client that must
    show it)."""
    seen: Counter[tuple[int, str]] = Counter()
    first_at: dict[tuple[int, str], float] = {}
    for stream, message_id, arrived in receipts:
        key = (stream, message_id)
        seen[key] += 1
        if key not in first_at or arrived < first_at[key]:
            first_at[key] = arrived
    out = Delivery()
    wanted: set[tuple[int, str]] = set()
    for send in sends:
        if send.status != 201 or send.message_id is None:
            continue
        recipient, own = expected_streams(send, streams_of)
        mid = send.message_id
        times = []
        missing = 0
        for stream in (*recipient, *own):
            key = (stream, mid)
            wanted.add(key)
            out.expected += 1
            if seen[key]:
                out.received += 1
                if stream in recipient:
                    times.append(first_at[key])
            else:
                missing += 1
        out.lost += missing
        out.messages_lost += int(missing > 0)
        if recipient and len(times) == len(recipient):
            out.latencies_ms.append((max(times) - send.started) * 1000)
            out.first_ms.append((min(times) - send.started) * 1000)
            if send.answered is not None:
                out.after_answer_ms.append((max(times) - send.answered) * 1000)
    for key, count in seen.items():
        if key in wanted:
            out.duplicated += count - 1
        else:
            out.strays += count
    return out


def measure(values: Sequence[float], answered: int, seconds: float, errors: int) -> Measurement:
    ordered = sorted(values)
    return Measurement(
        rps=round(answered / seconds, 1) if seconds > 0 else 0.0,
        p50_ms=round(_percentile(ordered, 50), 3),
        p95_ms=round(_percentile(ordered, 95), 3),
        p99_ms=round(_percentile(ordered, 99), 3),
        errors=errors,
        requests=answered,
    )


def send_measurement(sends: Sequence[Send], seconds: float) -> Measurement:
    """Sends answered 201, timed from their start; any other answer (or none) is an error."""
    ok = [(s.answered - s.started) * 1000 for s in sends if s.status == 201 and s.answered]
    return measure(ok, len(sends), seconds, sum(1 for s in sends if s.status != 201))


def delivery_measurement(delivery: Delivery, seconds: float) -> Measurement:
    """Messages seen on all their recipient's streams; the errors are messages lost."""
    return measure(
        delivery.latencies_ms, len(delivery.latencies_ms), seconds, delivery.messages_lost
    )


@dataclass(frozen=True)
class Senders:
    base_url: str
    auth: Sequence[str]  # each user's Authorization header value
    timeout_s: float = 10.0


async def _send(conn: Connection, senders: Senders, send: Send, number: int) -> None:
    body = orjson.dumps(
        {"body": f"Benchmark-Nachricht {number}", "client_message_id": uuid.uuid4().hex}
    )
    headers = {"Authorization": senders.auth[send.sender], "Content-Type": JSON}
    path = f"/api/v1/conversations/{send.conversation}/messages"
    try:
        answer = await conn.request("POST", path, headers=headers, body=body)
    except (OSError, TimeoutError, asyncio.IncompleteReadError, ProtocolError):
        return
    send.answered = time.monotonic()
    send.status = answer.status
    if answer.status == 201:
        send.message_id = str(orjson.loads(answer.body)["id"])


async def send_phase(
    senders: Senders,
    plan: Iterator[tuple[int, int, uuid.UUID]],
    *,
    concurrency: int,
    duration_s: float,
    pace: Pace | None = None,
) -> tuple[list[Send], float]:
    """Send for `duration_s`: flat out on `concurrency` connections (no pace) or arriving at
    the pace's rate; every send and the seconds until the last answer."""
    sends: list[Send] = []
    counter = itertools.count()
    started = time.monotonic()
    deadline = started + duration_s
    conns = [Connection(senders.base_url, timeout_s=senders.timeout_s) for _ in range(concurrency)]
    take: Callable[[], Awaitable[Send | None]]
    arrivals: asyncio.Task[None] | None = None

    if pace is None:

        async def closed() -> Send | None:
            now = time.monotonic()
            if now >= deadline:
                return None
            sender, recipient, conversation = next(plan)
            return Send(sender, recipient, conversation, now)

        take = closed
    else:
        queue: asyncio.Queue[Send | None] = asyncio.Queue()
        take = queue.get

        async def arrive() -> None:
            due = time.monotonic()
            try:
                while True:
                    due += pace.rng.expovariate(pace.rate)
                    if due >= deadline:
                        return
                    delay = due - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    sender, recipient, conversation = next(plan)
                    queue.put_nowait(Send(sender, recipient, conversation, due))
            finally:
                for _ in conns:
                    queue.put_nowait(None)

        arrivals = asyncio.create_task(arrive())

    async def worker(conn: Connection) -> None:
        while (send := await take()) is not None:
            sends.append(send)
            await _send(conn, senders, send, next(counter))

    try:
        await asyncio.gather(*(worker(c) for c in conns))
    finally:
        if arrivals is not None:
            arrivals.cancel()
        for conn in conns:
            conn.close()
    return sends, time.monotonic() - started


async def ceiling_phase(
    base_url: str, op: str, auth: Sequence[str], *, concurrency: int, duration_s: float
) -> tuple[Measurement, int]:
    """A trivial endpoint through nginx with the same client, flat out: `healthz` (an API
    process, no database) or `me` (a token checked, one read of the primary). The
    measurement and the 5xx answers."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    path = CEILING_PATHS[op]

    async def loop(conn: Connection, offset: int) -> None:
        i = offset
        while time.monotonic() < deadline:
            headers = {"Authorization": auth[i % len(auth)]} if op == "me" else {}
            began = time.monotonic()
            try:
                answer = await conn.request("GET", path, headers=headers)
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ProtocolError):
                statuses[NO_ANSWER] += 1
                continue
            statuses[answer.status] += 1
            latencies.append((time.monotonic() - began) * 1000)
            i += 1
        conn.close()

    started = time.monotonic()
    deadline = started + duration_s
    await asyncio.gather(*(loop(Connection(base_url), i * 7) for i in range(concurrency)))
    seconds = time.monotonic() - started
    errors = sum(n for s, n in statuses.items() if s != 200)
    server_errors = sum(n for s, n in statuses.items() if s >= 500)
    return measure(latencies, sum(statuses.values()), seconds, errors), server_errors


async def pubsub_phase(redis_url: str, *, duration_s: float) -> Measurement:
    """The floor of an event's hop between instances: a PUBLISH on the stack's Redis until
    this process's own subscription hears it, one message at a time."""
    client = aioredis.Redis.from_url(redis_url)
    listener = aioredis.Redis.from_url(redis_url)
    name = f"bench:messaging:{uuid.uuid4().hex}"
    pubsub = listener.pubsub()
    latencies: list[float] = []
    errors = 0
    try:
        await pubsub.subscribe(name)
        while (await pubsub.get_message(timeout=1.0)) is None:
            pass  # the subscription's confirmation
        started = time.monotonic()
        deadline = started + duration_s
        while time.monotonic() < deadline:
            began = time.monotonic()
            await client.publish(name, b"x")
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is None:
                errors += 1
                continue
            latencies.append((time.monotonic() - began) * 1000)
        seconds = time.monotonic() - started
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await listener.aclose()
        await client.aclose()
    return measure(latencies, len(latencies) + errors, seconds, errors)
