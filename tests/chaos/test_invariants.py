"""The invariant checker against real writes: a booking, its payment approved on the fake
Stripe, a message, a signature and a listener's events, made through nginx and written to an
ack log as the mixed load writes it. Every invariant holds for them; each tampered log (an id
that does not exist, a key answered twice, an event read twice, an approval that never
settled) and each row a fault could leave (a second charge, a job stuck or failed unretried,
added in a transaction that is rolled back) makes its check fail."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from sichrplace.chaos import delivery, invariants, jobs, ledger
from sichrplace.chaos.acklog import AckLog, Record, read_acks, write_acks
from sichrplace.chaos.check import Check
from sichrplace.config import Settings
from sichrplace.platform.db.engines import Database
from tests.helpers.members import Member, create_member
from tests.journey.conftest import approve_in_browser, eventually
from tests.listings.conftest import listing_body

pytestmark = pytest.mark.stack

API = "/api/v1"
COLD, UTILITIES, DEPOSIT = 95_000, 22_000, 285_000


@dataclass(frozen=True)
class Scene:
    records: list[Record]
    tenant: Member
    landlord: Member
    viewing_id: str
    payment_id: str
    since: float
    until: float


def _ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def _last_seq(settings: Settings, user: uuid.UUID) -> int:
    with psycopg.connect(settings.db.direct_dsn) as conn:
        row = conn.execute(
            "SELECT last_seq FROM user_event_counters WHERE user_id = %s", [user]
        ).fetchone()
    return int(row[0]) if row else 0


async def _book(http: httpx.AsyncClient, tenant: Member, slot: str) -> tuple[dict[str, Any], str]:
    key = f"chaos-{uuid.uuid4()}"
    booked = _ok(
        await http.post(
            f"{API}/viewings",
            json={"slot_id": slot},
            headers={**tenant.headers, "Idempotency-Key": key},
        ),
        201,
    )
    return booked, key


@pytest.fixture(scope="module")
async def scene(settings: Settings, db: Database, stack_url: str) -> Scene:
    since = time.time()
    landlord = await create_member(db, settings, "landlord", label="chaos")
    tenant = await create_member(db, settings, "tenant", label="chaos")
    records: list[Record] = []
    async with httpx.AsyncClient(base_url=stack_url, timeout=30) as http:
        listing = _ok(
            await http.post(f"{API}/listings", json=listing_body(), headers=landlord.headers), 201
        )
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=4)
        slot = _ok(
            await http.post(
                f"{API}/listings/{listing['id']}/slots",
                json={
                    "starts_at": start.isoformat(),
                    "ends_at": (start + timedelta(minutes=30)).isoformat(),
                },
                headers=landlord.headers,
            ),
            201,
        )
        booked, key = await _book(http, tenant, slot["id"])
        viewing, payment = booked["id"], booked["payment"]
        records += [
            {
                "kind": "booking",
                "viewing_id": viewing,
                "slot_id": slot["id"],
                "tenant_id": str(tenant.id),
                "key": key,
                "at": time.time(),
            },
            {
                "kind": "intent",
                "payment_id": payment["id"],
                "viewing_id": viewing,
                "key": key,
                "at": time.time(),
            },
        ]
        back = await approve_in_browser(payment["approval_url"], amount_text="25,00 €")
        assert back.status_code == 303, back.text
        records.append(
            {
                "kind": "approved",
                "payment_id": payment["id"],
                "viewing_id": viewing,
                "ref": "",
                "at": time.time(),
            }
        )

        async def confirmed() -> bool | None:
            body = _ok(await http.get(f"{API}/viewings/{viewing}", headers=tenant.headers))
            return True if body["status"] == "confirmed" else None

        await eventually(confirmed, "the viewing confirmed")
        draft = _ok(
            await http.post(
                f"{API}/contracts",
                json={
                    "viewing_id": viewing,
                    "start_date": (date.today() + timedelta(days=60)).isoformat(),
                    "cold_rent_cents": COLD,
                    "utilities_cents": UTILITIES,
                    "deposit_cents": DEPOSIT,
                },
                headers=landlord.headers,
            ),
            201,
        )
        sent = _ok(await http.post(f"{API}/contracts/{draft['id']}/send", headers=landlord.headers))
        _ok(
            await http.post(
                f"{API}/contracts/{draft['id']}/sign",
                json={
                    "full_name": "Erika Mustermann",
                    "accept": True,
                    "document_sha256": sent["document_sha256"],
                },
                headers=tenant.headers,
            )
        )
        records.append(
            {
                "kind": "signature",
                "contract_id": draft["id"],
                "party": "tenant",
                "user_id": str(tenant.id),
                "at": time.time(),
            }
        )
        # The landlord listens from here on: what it reads is logged as the load logs it.
        listened_from = _last_seq(settings, landlord.id)
        conversation = _ok(
            await http.post(
                f"{API}/conversations",
                json={"listing_id": listing["id"], "body": "Guten Tag!"},
                headers=tenant.headers,
            ),
            201,
        )
        client_id = str(uuid.uuid4())
        message = _ok(
            await http.post(
                f"{API}/conversations/{conversation['id']}/messages",
                json={"body": "Passt Dienstag?", "client_message_id": client_id},
                headers=tenant.headers,
            ),
            201,
        )
        records.append(
            {
                "kind": "message",
                "message_id": message["id"],
                "conversation_id": conversation["id"],
                "client_message_id": client_id,
                "sender_id": str(tenant.id),
                "recipient_id": str(landlord.id),
                "at": time.time(),
            }
        )
    newest = _last_seq(settings, landlord.id)
    read = delivery.final_read(stack_url, landlord.headers["Authorization"], listened_from, newest)
    assert [i for i, _ in read] == list(range(listened_from + 1, newest + 1))
    assert message["id"] in {m for _, m in read}
    for event_id, message_id in read:
        records.append(
            {
                "kind": "event",
                "user_id": str(landlord.id),
                "event_id": event_id,
                "type": "x",
                "message_id": message_id,
                "at": time.time(),
            }
        )
    records.append(
        {
            "kind": "listener",
            "user_id": str(landlord.id),
            "last_event_id": newest,
            "at": time.time(),
        }
    )
    return Scene(records, tenant, landlord, viewing, payment["id"], since, time.time())


def _log(tmp_path: Path, records: list[Record]) -> Path:
    return write_acks(tmp_path / f"acks-{uuid.uuid4().hex[:6]}.jsonl", records)


def _acks(tmp_path: Path, records: list[Record]) -> AckLog:
    return read_acks([_log(tmp_path, records)])


def _first(records: list[Record], kind: str) -> Record:
    return next(r for r in records if r["kind"] == kind)


def _failed(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks if not c.held}


async def test_real_writes_hold_every_invariant(
    scene: Scene, settings: Settings, stack_url: str, tmp_path: Path
) -> None:
    checks = invariants.check_all(
        settings,
        [_log(tmp_path, scene.records)],
        since=scene.since,
        until=scene.until,
        base_url=stack_url,
        settle_payments_s=30,
    )
    assert _failed(checks) == {}
    counted = {c.name: c.checked for c in checks}
    assert counted["bookings stored once"] == 1
    assert counted["messages stored once"] == 1
    assert counted["signatures stored once"] == 1
    assert counted["approved payments succeeded, viewings confirmed"] == 1
    assert counted["ledger balanced"] == 1
    assert counted["messages delivered once to listeners"] == 1


async def test_tampered_acks_break_the_stored_checks(
    scene: Scene, settings: Settings, tmp_path: Path
) -> None:
    ghost = str(uuid.uuid4())
    booking = _first(scene.records, "booking")
    message = _first(scene.records, "message")
    signature = _first(scene.records, "signature")
    records = [
        *scene.records,
        {**booking, "viewing_id": ghost, "key": "other"},  # never stored
        {**booking, "viewing_id": str(uuid.uuid4())},  # its key answered with a second id
        {**message, "message_id": ghost},
        {**signature, "party": "landlord", "user_id": str(scene.landlord.id)},  # not signed
    ]
    acks = _acks(tmp_path, records)
    with psycopg.connect(settings.db.direct_dsn) as conn:
        bookings = invariants.bookings_stored(conn, acks)
        messages = invariants.messages_stored(conn, acks)
        signatures = invariants.signatures_stored(conn, acks)
    assert ghost in bookings.first
    assert f"key:{booking['key']}" in bookings.first
    assert bookings.offending == 3  # the ghost, the second id, and the key
    assert ghost in messages.first
    assert signatures.offending == 1


async def test_an_event_read_twice_or_a_missing_message_breaks_delivery(
    scene: Scene, settings: Settings, stack_url: str, tmp_path: Path
) -> None:
    message = _first(scene.records, "message")
    event = next(
        r
        for r in scene.records
        if r["kind"] == "event" and r["message_id"] == message["message_id"]
    )
    ghost = str(uuid.uuid4())
    acks = _acks(tmp_path, [*scene.records, {**event, "at": event["at"] + 0.1}])
    with psycopg.connect(settings.db.direct_dsn) as conn:
        twice = delivery.events_delivered(conn, settings, acks, base_url=stack_url)
        acks = _acks(tmp_path, [*scene.records, {**message, "message_id": ghost}])
        unknown = delivery.events_delivered(conn, settings, acks, base_url=stack_url)
    found = _failed(twice)
    assert set(found) == {
        "events consecutive, none twice",
        "messages delivered once to listeners",
    }
    assert (
        f"event {event['event_id']} read 2 times"
        in found["events consecutive, none twice"].first[0]
    )
    assert _failed(unknown)["messages delivered once to listeners"].first == (
        f"message {ghost}: no event for its recipient {scene.landlord.id}",
    )


async def test_an_approval_that_never_settles_is_reported(
    scene: Scene, settings: Settings, db: Database, stack_url: str, tmp_path: Path
) -> None:
    """A second booking's payment is logged as approved but nobody paid it."""
    listing = _first(scene.records, "booking")
    async with httpx.AsyncClient(base_url=stack_url, timeout=30) as http:
        r = await http.get(f"{API}/viewings/{listing['viewing_id']}", headers=scene.tenant.headers)
        listing_id = _ok(r)["listing_id"]
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=5)
        slot = _ok(
            await http.post(
                f"{API}/listings/{listing_id}/slots",
                json={
                    "starts_at": start.isoformat(),
                    "ends_at": (start + timedelta(minutes=30)).isoformat(),
                },
                headers=scene.landlord.headers,
            ),
            201,
        )
        other = await create_member(db, settings, "tenant", label="chaos")
        booked, _ = await _book(http, other, slot["id"])
    unpaid = booked["payment"]["id"]
    acks = _acks(
        tmp_path,
        [
            *scene.records,
            {"kind": "approved", "payment_id": unpaid, "viewing_id": booked["id"], "at": 1.0},
        ],
    )
    with psycopg.connect(settings.db.direct_dsn) as conn:
        check = invariants.approved_settled(conn, acks, wait_s=1.5)
    assert check.offending == 1
    assert check.first == (f"{unpaid} (requires_action, viewing pending_payment)",)
    assert "waited" in check.note


def _tx(settings: Settings) -> psycopg.Connection:
    return psycopg.connect(settings.db.direct_dsn)


async def test_a_second_charge_or_paid_payment_breaks_ledger_and_charge_checks(
    scene: Scene, settings: Settings, tmp_path: Path
) -> None:
    """Rows a fault could leave, added in a transaction the check's own read sees and its
    rollback drops (the constraints keep the database itself from holding two charges of one
    provider object or two live payments of one viewing)."""
    acks = _acks(tmp_path, scene.records)
    payment = uuid.UUID(scene.payment_id)
    with _tx(settings) as conn:
        conn.execute(
            "INSERT INTO ledger_entries (payment_id, kind, provider, object_ref, amount_cents)"
            " VALUES (%s, 'charge', 'stripe', %s, 2500)",
            [payment, f"chaos-{uuid.uuid4()}"],
        )
        balance = ledger.ledger_balanced(conn, [payment])
        conn.execute(
            "INSERT INTO payments (id, purpose, reference_id, viewing_id, payer_id, payee_id,"
            " provider, provider_ref, amount_cents, status, description)"
            " VALUES (%s, 'viewing_fee', %s, %s, %s, %s, 'stripe', %s, 2500, 'refunded', 'x')",
            [
                uuid.uuid4(),
                uuid.UUID(scene.viewing_id),
                uuid.UUID(scene.viewing_id),
                scene.tenant.id,
                scene.landlord.id,
                f"chaos-{uuid.uuid4()}",
            ],
        )
        booking, charge = invariants.no_double_booking_or_charge(
            conn, acks, settings.payments.viewing_fee_cents
        )
    assert balance.offending == 1
    assert balance.first[0].startswith(f"{payment} (succeeded: 2")
    assert booking.held
    assert (charge.offending, charge.first) == (1, (scene.viewing_id,))


async def test_a_job_left_running_or_failed_unretried_breaks_the_job_checks(
    settings: Settings,
) -> None:
    since = time.time() - 1
    with _tx(settings) as conn:
        found = []
        for status, attempts in (("doing", 0), ("failed", 1)):
            row = conn.execute(
                "INSERT INTO procrastinate_jobs (queue_name, task_name, args, status, attempts)"
                " VALUES ('chaos-test', 'chaos.probe', '{}', %s, %s) RETURNING id",
                [status, attempts],
            ).fetchone()
            assert row is not None
            conn.execute(
                "INSERT INTO procrastinate_events (job_id, type) VALUES (%s, 'started')", [row[0]]
            )
            conn.execute(
                "INSERT INTO job_errors (job_id, attempt, error) VALUES (%s, 1, 'OSError: x')",
                [row[0]],
            )
            found.append(row[0])
        running, failed = jobs.jobs_not_lost(conn, since, time.time() + 1, wait_s=0)
    assert running.first == (f"{found[0]} chaos.probe",)
    assert failed.first == (f"{found[1]} chaos.probe (attempt 1: OSError: x)",)
