"""The mixed load's Locust users (run by `bench/mixed/run.py` as `locust -f <this file>`).

One class per kind of user, each at its own pace (exponential gaps between task starts, so the
sum of many users arrives as a Poisson stream, not in lockstep): anonymous visitors searching
and reading listings (the bulk), members logging in, tenants booking and paying viewings (the
payer approves at the fake Stripe, whose signed webhook confirms the booking), landlords
drawing up and both parties signing contracts, pairs writing messages, and listeners holding
event streams open (reconnecting with `Last-Event-ID` when one breaks).

Every request is written to `requests-<pid>.csv` (name, start in ms, duration in ms, status;
0 for no answer): the runner computes the percentiles and the per-second timeline from it,
not from Locust's rounded ones. Every acknowledged write goes to `acks-<pid>.jsonl` in the
format the fault matrix's invariant checker reads (`/work` contract: booking, intent,
approved, message, signature, event, listener).
"""

from __future__ import annotations

import itertools
import os
import random
import socket
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import gevent  # type: ignore[import-untyped]
import orjson
from locust import FastHttpUser, User, events, task
from locust.env import Environment

from sichrplace.bench.booking_load import provider_ref
from sichrplace.bench.mixed.cast import Person, Plan
from sichrplace.bench.mixed.ops import EXPECT, LISTENED_PAIRS
from sichrplace.bench.sse import ChunkedDecoder, SseParser

PLAN = Plan.from_file(Path(os.environ["SICHRPLACE_MIXED_PLAN"]))
OUT = Path(PLAN.acks_dir)
TOKEN_LIFE_S = 600.0  # signed afresh before the API's 15 minutes are up
RACE_SHARE = 0.15  # bookings raced by a second tenant at the same moment
CONFIRM_WAIT_S = 15.0  # a booker polls its viewing this long for the webhook's confirmation
JSON = {"Content-Type": "application/json"}


class Recorder:
    """The request log and the ack log of this process (flushed as they go: a killed run
    keeps what it acknowledged)."""

    def __init__(self) -> None:
        pid = os.getpid()
        self._requests = (OUT / f"requests-{pid}.csv").open("a", buffering=1 << 16)
        self._acks = (OUT / f"acks-{pid}.jsonl").open("ab", buffering=0)
        self._lock = threading.Lock()

    def request(self, name: str, start: float, ms: float, status: int) -> None:
        self._requests.write(f"{name},{int(start * 1000)},{ms:.2f},{status}\n")

    def ack(self, kind: str, **fields: Any) -> None:
        line = orjson.dumps({"kind": kind, "at": time.time(), **fields}) + b"\n"
        with self._lock:
            self._acks.write(line)

    def flush(self) -> None:
        self._requests.flush()


RECORD = Recorder()


def _on_request(
    name: str, response_time: float, response: Any, start_time: float | None = None, **_: Any
) -> None:
    status = int(getattr(response, "status_code", 0) or 0)
    RECORD.request(name, start_time or time.time(), response_time, status)


def _on_quit(environment: Environment, **_: Any) -> None:
    RECORD.flush()


events.request.add_listener(_on_request)  # type: ignore[no-untyped-call]
events.quitting.add_listener(_on_quit)  # type: ignore[no-untyped-call]


class Tokens:
    """Access tokens signed here with the stack's key, as `bench booking` signs them."""

    def __init__(self) -> None:
        from sichrplace.accounts.security import build_auth_runtime
        from sichrplace.config import get_settings

        self._issuer = build_auth_runtime(get_settings()).access_tokens
        self._cache: dict[str, tuple[float, str]] = {}

    def auth(self, person: Person) -> dict[str, str]:
        now = time.time()
        found = self._cache.get(person.id)
        if found is None or now - found[0] > TOKEN_LIFE_S:
            token = self._issuer.issue(
                user_id=uuid.UUID(person.id),
                email=person.email,
                role=person.role,
                session_id=uuid.UUID(person.session_id),
                now=datetime.now(UTC),
            )
            found = (now, f"Bearer {token}")
            self._cache[person.id] = found
        return {"Authorization": found[1]}


TOKENS = Tokens()
SLOTS = iter(PLAN.slots)
_numbers: dict[str, itertools.count[int]] = {}


def numbered(kind: str) -> int:
    """0, 1, 2, ... per user class: which part of the cast a user plays."""
    return next(_numbers.setdefault(kind, itertools.count()))


def paced(user: Any) -> float:
    """Exponential gaps between task starts at the class's pace (tasks per second)."""
    rate: float = PLAN.pace[type(user).__name__]
    now = time.monotonic()
    due = getattr(user, "_due", now) + random.expovariate(rate)
    user._due = max(due, now)
    return max(0.0, due - now)


class Api(FastHttpUser):
    abstract = True
    host = PLAN.base_url
    wait_time = paced
    network_timeout = 30.0
    connection_timeout = 10.0

    def send(
        self,
        method: str,
        path: str,
        name: str,
        *,
        auth: dict[str, str] | None = None,
        body: Any = None,
        key: str | None = None,
    ) -> tuple[int, Any]:
        """One request; its status and its JSON body (None unless expected and JSON)."""
        headers = dict(auth or {})
        if body is not None:
            headers.update(JSON)
        if key is not None:
            headers["Idempotency-Key"] = key
        data = orjson.dumps(body).decode() if body is not None else None
        with self.client.request(
            method, path, name=name, headers=headers, data=data, catch_response=True
        ) as r:
            status = int(r.status_code or 0)
            if status in EXPECT[name]:
                r.success()
                text = r.content
                return status, orjson.loads(text) if text else None
            r.failure(f"{status}")
            return status, None


class Visitor(Api):
    """Anonymous: search (following a cursor now and then), facets, a listing, suggestions."""

    @task(40)
    def search(self) -> None:
        path = random.choice(PLAN.search)
        _, page = self.send("GET", path, "search")
        cursor = page.get("next_cursor") if page else None
        if cursor and random.random() < 0.25:
            joiner = "&" if "?" in path else "?"
            self.send("GET", f"{path}{joiner}cursor={cursor}", "search_page2")

    @task(12)
    def facets(self) -> None:
        self.send("GET", random.choice(PLAN.facets), "facets")

    @task(30)
    def listing(self) -> None:
        self.send("GET", random.choice(PLAN.listings), "listing")

    @task(12)
    def suggest(self) -> None:
        self.send("GET", random.choice(PLAN.suggest), "suggest")

    @task(4)
    def popular(self) -> None:
        self.send("GET", random.choice(PLAN.popular), "popular")


class Member(Api):
    """Logs in with a password now and then, reads its profile and notifications."""

    def on_start(self) -> None:
        self.email = PLAN.login_emails[numbered("member") % len(PLAN.login_emails)]
        self.auth: dict[str, str] = {}
        self.login()

    # A session logs in once and then reads for a while: a login (argon2, ~0.3 s of CPU by
    # design) is one task in 26.
    @task(1)
    def login(self) -> None:
        body = {"email": self.email, "password": PLAN.login_password}
        _, tokens = self.send("POST", "/api/v1/auth/login", "login", body=body)
        if tokens:
            self.auth = {"Authorization": f"Bearer {tokens['access_token']}"}

    @task(15)
    def me(self) -> None:
        if self.auth:
            self.send("GET", "/api/v1/me", "me", auth=self.auth)

    @task(10)
    def notifications(self) -> None:
        if self.auth:
            self.send("GET", "/api/v1/notifications", "notifications", auth=self.auth)


class Correspondent(Api):
    """One conversation's two sides taking turns; reads the thread and the inbox too."""

    def on_start(self) -> None:
        self.conversation, tenant, landlord = PLAN.pairs[numbered("pair") % len(PLAN.pairs)]
        self.sides = (PLAN.people[tenant], PLAN.people[landlord])
        self.turn = 0

    @task(5)
    def send_message(self) -> None:
        sender, recipient = self.sides[self.turn % 2], self.sides[1 - self.turn % 2]
        self.turn += 1
        client_id = str(uuid.uuid4())
        body = {"body": f"Nachricht {self.turn} zur Besichtigung", "client_message_id": client_id}
        path = f"/api/v1/conversations/{self.conversation}/messages"
        auth = TOKENS.auth(sender)
        _, message = self.send("POST", path, "message_send", auth=auth, body=body)
        if message:
            RECORD.ack(
                "message",
                message_id=message["id"],
                conversation_id=self.conversation,
                client_message_id=client_id,
                sender_id=sender.id,
                recipient_id=recipient.id,
            )

    @task(1)
    def read_thread(self) -> None:
        auth = TOKENS.auth(self.sides[self.turn % 2])
        path = f"/api/v1/conversations/{self.conversation}/messages?limit=20"
        self.send("GET", path, "messages", auth=auth)

    @task(1)
    def inbox(self) -> None:
        auth = TOKENS.auth(self.sides[self.turn % 2])
        self.send("GET", "/api/v1/conversations", "conversations", auth=auth)


class Booker(Api):
    """Books a slot (sometimes raced by another tenant), asks for the payment intent, pays at
    the provider, and waits for the webhook to confirm the viewing."""

    def on_start(self) -> None:
        self.tenant = PLAN.people[PLAN.bookers[numbered("booker") % len(PLAN.bookers)]]

    def attempt(self, slot: str, tenant: Person) -> tuple[int, Any]:
        key = str(uuid.uuid4())
        status, viewing = self.send(
            "POST",
            "/api/v1/viewings",
            "booking",
            auth=TOKENS.auth(tenant),
            body={"slot_id": slot},
            key=key,
        )
        if status == 201 and viewing:
            RECORD.ack(
                "booking", viewing_id=viewing["id"], slot_id=slot, tenant_id=tenant.id, key=key
            )
        return status, viewing

    @task
    def book(self) -> None:
        slot = next(SLOTS, None)
        if slot is None:
            return  # the run's slots are used up; the runner sizes them to last
        racer = None
        if random.random() < RACE_SHARE and len(PLAN.bookers) > 1:
            other = PLAN.people[random.choice(PLAN.bookers)]
            if other.id != self.tenant.id:
                racer = gevent.spawn(self.attempt, slot, other)
        status, viewing = self.attempt(slot, self.tenant)
        if racer is not None:
            racer.join()
            won = racer.value
            if status != 201 and won and won[0] == 201:
                return  # the other tenant won the race: its own journey ends there
        if status != 201 or not viewing:
            return
        self.pay(viewing, self.tenant)

    def pay(self, viewing: dict[str, Any], tenant: Person) -> None:
        auth = TOKENS.auth(tenant)
        key = str(uuid.uuid4())
        body = {"purpose": "viewing_fee", "viewing_id": viewing["id"]}
        status, intent = self.send(
            "POST", "/api/v1/payments/intents", "intent", auth=auth, body=body, key=key
        )
        if not intent:
            return
        RECORD.ack("intent", payment_id=intent["id"], viewing_id=viewing["id"], key=key)
        ref = provider_ref(str(intent["approval_url"]))
        approve = f"{PLAN.fake_url}/_fake/approve/{ref}"
        status, _ = self.send("POST", approve, "provider_approve")
        if status != 200:
            return
        RECORD.ack("approved", payment_id=intent["id"], viewing_id=viewing["id"], ref=ref)
        deadline = time.monotonic() + CONFIRM_WAIT_S
        path = f"/api/v1/viewings/{viewing['id']}"
        while time.monotonic() < deadline:
            _, seen = self.send("GET", path, "viewing", auth=auth)
            if seen and seen.get("status") == "confirmed":
                return
            time.sleep(0.5)


class Signer(Api):
    """A landlord draws up a contract, sends it; the tenant signs, then the landlord."""

    def on_start(self) -> None:
        landlord, self.listing, tenant = PLAN.contracts[numbered("signer") % len(PLAN.contracts)]
        self.landlord, self.tenant = PLAN.people[landlord], PLAN.people[tenant]

    @task
    def contract(self) -> None:
        landlord_auth = TOKENS.auth(self.landlord)
        start = date.today() + timedelta(days=60)
        terms = {
            "listing_id": self.listing,
            "tenant_id": self.tenant.id,
            "start_date": start.isoformat(),
            "cold_rent_cents": 80_000,
            "utilities_cents": 20_000,
            "deposit_cents": 240_000,
        }
        _, draft = self.send(
            "POST", "/api/v1/contracts", "contract_create", auth=landlord_auth, body=terms
        )
        if not draft:
            return
        base = f"/api/v1/contracts/{draft['id']}"
        _, sent = self.send("POST", f"{base}/send", "contract_send", auth=landlord_auth)
        if not sent:
            return
        for party, person in (("tenant", self.tenant), ("landlord", self.landlord)):
            body = {
                "full_name": f"Bench {party}",
                "accept": True,
                "document_sha256": sent["document_sha256"],
            }
            _, signed = self.send(
                "POST", f"{base}/sign", "contract_sign", auth=TOKENS.auth(person), body=body
            )
            if not signed:
                return
            RECORD.ack("signature", contract_id=draft["id"], party=party, user_id=person.id)


class Listener(User):
    """Holds one user's event stream open, as a browser tab does: every event is noted, and a
    broken stream is opened again with `Last-Event-ID`."""

    wait_time = paced
    listeners: ClassVar[list[int]] = sorted(
        {i for pair in PLAN.pairs[:LISTENED_PAIRS] for i in pair[1:]}
    )

    def on_start(self) -> None:
        self.person = PLAN.people[self.listeners[numbered("listener") % len(self.listeners)]]
        self.last_id: str | None = None

    def on_stop(self) -> None:
        if self.last_id is not None:
            RECORD.ack("listener", user_id=self.person.id, last_event_id=int(self.last_id))

    @task
    def listen(self) -> None:
        parts = urlsplit(PLAN.base_url)
        started = time.time()
        status = 0
        try:
            with socket.create_connection((parts.hostname, parts.port or 80), timeout=60) as sock:
                head = [
                    "GET /api/v1/events HTTP/1.1",
                    f"Host: {parts.netloc}",
                    "Accept: text/event-stream",
                    f"Authorization: {TOKENS.auth(self.person)['Authorization']}",
                ]
                if self.last_id is not None:
                    head.append(f"Last-Event-ID: {self.last_id}")
                sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
                status = self._read(sock, started)
        except OSError:
            pass
        if status != 200:
            self._report(started, status)

    def _report(self, started: float, status: int) -> None:
        events.request.fire(  # type: ignore[no-untyped-call]
            request_type="GET",
            name="events_connect",
            response_time=(time.time() - started) * 1000,
            response_length=0,
            response=_Status(status),
            exception=None if status == 200 else OSError(f"stream answered {status}"),
            start_time=started,
            context={},
        )

    def _read(self, sock: socket.socket, started: float) -> int:
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                return 0
            buffer += chunk
        head, _, rest = buffer.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if status != 200:
            return status
        self._report(started, 200)
        chunked, parser = ChunkedDecoder(), SseParser()
        data = rest
        while True:
            for frame in parser.feed(chunked.feed(data)):
                if frame.data is None or frame.id is None:
                    continue
                self.last_id = frame.id
                message_id = None
                if frame.event == "message.created":
                    message_id = orjson.loads(frame.data)["message"]["id"]
                RECORD.ack(
                    "event",
                    user_id=self.person.id,
                    event_id=int(frame.id),
                    type=frame.event,
                    message_id=message_id,
                )
            if chunked.done:
                return 200
            data = sock.recv(65536)
            if not data:
                return 200


class _Status:
    def __init__(self, status: int) -> None:
        self.status_code = status


USER_CLASSES = (Visitor, Member, Correspondent, Booker, Signer, Listener)


def _apply_counts() -> None:
    """Each class's user count from the plan (fixed counts: `-u` is their sum; the runner
    names only the classes with users on Locust's command line)."""
    for cls in USER_CLASSES:
        cls.fixed_count = int(PLAN.users.get(cls.__name__, 0))


_apply_counts()
