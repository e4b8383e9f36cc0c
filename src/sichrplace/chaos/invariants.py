"""What must hold after a fault, checked against the database (the write endpoint, the
primary itself: what a replica has not replayed yet would look lost).

- every acknowledged booking, intent, message and signature is stored, by id, exactly once
  (one id per Idempotency-Key or client message id);
- no double booking, no double charge (`bench.booking_setup.audit`'s queries);
- every approved payment ends `succeeded` and its viewing `confirmed` (waited for, bounded:
  the provider retries its webhooks);
- the ledger balanced (`ledger.py`), no job lost (`jobs.py`), every event delivered once
  after a final reconnect (`delivery.py`).

Each check is a `Check`: how many things it looked at, how many broke it, the first ids.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import psycopg

from sichrplace.bench.booking_setup import CHARGES_PER_VIEWING_SQL, LIVE_VIEWINGS_SQL, audit
from sichrplace.chaos.acklog import AckLog, Record, read_acks
from sichrplace.chaos.check import FIRST, Check, rows, verdict
from sichrplace.chaos.delivery import events_delivered
from sichrplace.chaos.jobs import RECOVERY_WAIT_S, jobs_not_lost
from sichrplace.chaos.ledger import ledger_balanced
from sichrplace.config import Settings

# Webhook retries of the fake provider end within seconds; a fault that held them (or the
# API) may leave a tail: this bounds the wait for approved payments to settle.
SETTLE_PAYMENTS_S = 60.0


def _ids(records: Iterable[Record], field: str) -> list[uuid.UUID]:
    return list(dict.fromkeys(uuid.UUID(str(r[field])) for r in records if r.get(field)))


def _one_id_per_key(records: Iterable[Record], key: str, field: str) -> list[str]:
    """Keys answered 2xx with two different ids (a retried write applied twice)."""
    per_key: dict[str, set[str]] = defaultdict(set)
    for r in records:
        if r.get(key):
            per_key[str(r[key])].add(str(r[field]))
    return [f"key:{k}" for k, ids in per_key.items() if len(ids) > 1]


# --- acknowledged writes stored exactly once ---------------------------------------------------


def bookings_stored(conn: psycopg.Connection, acks: AckLog) -> Check:
    records = acks.of("booking")
    ids = _ids(records, "viewing_id")
    found = {
        r[0]: (str(r[1]), str(r[2]))
        for r in rows(conn, "SELECT id, slot_id, tenant_id FROM viewings WHERE id = ANY(%s)", [ids])
    }
    bad = [str(i) for i in ids if i not in found]
    bad += [
        str(r["viewing_id"])
        for r in records
        if uuid.UUID(str(r["viewing_id"])) in found
        and found[uuid.UUID(str(r["viewing_id"]))] != (str(r["slot_id"]), str(r["tenant_id"]))
    ]
    bad += _one_id_per_key(records, "key", "viewing_id")
    return verdict("bookings stored once", len(ids), bad)


def intents_stored(conn: psycopg.Connection, acks: AckLog) -> Check:
    records = acks.of("intent")
    ids = _ids(records, "payment_id")
    found = {
        r[0]: str(r[1])
        for r in rows(conn, "SELECT id, reference_id FROM payments WHERE id = ANY(%s)", [ids])
    }
    bad = [str(i) for i in ids if i not in found]
    bad += [
        str(r["payment_id"])
        for r in records
        if r.get("viewing_id")
        and uuid.UUID(str(r["payment_id"])) in found
        and found[uuid.UUID(str(r["payment_id"]))] != str(r["viewing_id"])
    ]
    bad += _one_id_per_key(records, "key", "payment_id")
    return verdict("payment intents stored once", len(ids), bad)


def messages_stored(conn: psycopg.Connection, acks: AckLog) -> Check:
    """Each acked message by its id, and one row per (conversation, author, client id): the
    unique index holds that, so a second row would have to carry another client id; the
    ack's own id must be the one stored for its client id."""
    records = acks.of("message")
    triples = list(
        dict.fromkeys(
            (str(r["conversation_id"]), str(r["sender_id"]), str(r["client_message_id"]))
            for r in records
        )
    )
    stored: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for conv, author, client, message in rows(
        conn,
        "SELECT m.conversation_id::text, m.author_id::text, m.client_message_id, m.id::text"
        " FROM unnest(%s::uuid[], %s::uuid[], %s::text[]) AS a(conv, author, client)"
        " JOIN messages m ON m.conversation_id = a.conv AND m.author_id = a.author"
        " AND m.client_message_id = a.client",
        [[t[i] for t in triples] for i in range(3)],
    ):
        stored[(conv, author, client)].append(message)
    bad = []
    for r in records:
        triple = (str(r["conversation_id"]), str(r["sender_id"]), str(r["client_message_id"]))
        if stored.get(triple) != [str(r["message_id"])]:
            bad.append(str(r["message_id"]))
    bad += _one_id_per_key(records, "client_message_id", "message_id")
    return verdict("messages stored once", len(records), list(dict.fromkeys(bad)))


def signatures_stored(conn: psycopg.Connection, acks: AckLog) -> Check:
    records = acks.of("signature")
    pairs = list(dict.fromkeys((str(r["contract_id"]), str(r["party"])) for r in records))
    found = {
        (str(c), p): str(s)
        for c, p, s in rows(
            conn,
            "SELECT s.contract_id, s.party, s.signer_id FROM unnest(%s::uuid[], %s::text[])"
            " AS a(contract, party) JOIN contract_signatures s"
            " ON s.contract_id = a.contract AND s.party = a.party",
            [[p[0] for p in pairs], [p[1] for p in pairs]],
        )
    }
    bad = [
        f"{r['contract_id']}/{r['party']}"
        for r in records
        if found.get((str(r["contract_id"]), str(r["party"]))) != str(r["user_id"])
    ]
    return verdict("signatures stored once", len(pairs), list(dict.fromkeys(bad)))


# --- no double booking, no double charge -------------------------------------------------------


_DOUBLE_SLOTS_SQL = f"""
SELECT slot_id FROM viewings WHERE slot_id = ANY(%(slots)s) AND status IN ({LIVE_VIEWINGS_SQL})
 GROUP BY slot_id HAVING count(*) > 1
"""  # noqa: S608 - the status words are written in; the ids are bound

# The viewings `audit` counts as charged twice: a second paid payment, a second ledger
# charge, or more charged than the fee.
_CHARGED_TWICE_SQL = f"""
WITH v AS (SELECT id FROM viewings WHERE slot_id = ANY(%(slots)s)),
c AS ({CHARGES_PER_VIEWING_SQL})
SELECT id FROM c WHERE paid > 1 OR charges > 1 OR charged > %(fee)s ORDER BY id
"""  # noqa: S608


def no_double_booking_or_charge(
    conn: psycopg.Connection, acks: AckLog, fee_cents: int
) -> list[Check]:
    """`audit`'s counts over the run's slots, and the offenders' ids (read first, in the
    same transaction: `audit` ends it)."""
    slots = _ids(acks.of("booking"), "slot_id")
    params = {"slots": slots, "fee": fee_cents}
    double_slots = [str(r[0]) for r in conn.execute(_DOUBLE_SLOTS_SQL, params).fetchall()]
    charged_twice = [str(r[0]) for r in conn.execute(_CHARGED_TWICE_SQL, params).fetchall()]
    counts = audit(conn, slots, fee_cents)
    return [
        Check(
            "no double booking",
            len(slots),
            counts["double_bookings"],
            tuple(double_slots[:FIRST]),
        ),
        Check(
            "no double charge",
            counts["bookings"],
            counts["double_charges"],
            tuple(charged_twice[:FIRST]),
        ),
    ]


# --- approved payments settle ------------------------------------------------------------------


def _unsettled(conn: psycopg.Connection, records: Sequence[Record]) -> list[str]:
    payments = _ids(records, "payment_id")
    found = rows(
        conn,
        "SELECT p.id, p.status, v.status FROM payments p"
        " LEFT JOIN viewings v ON v.id = p.viewing_id WHERE p.id = ANY(%s)",
        [payments],
    )
    state = {r[0]: (r[1], r[2]) for r in found}
    bad = []
    for r in records:
        payment = uuid.UUID(str(r["payment_id"]))
        status, viewing = state.get(payment, (None, None))
        wants_viewing = bool(r.get("viewing_id"))
        if status != "succeeded" or (wants_viewing and viewing not in ("confirmed", "completed")):
            bad.append(f"{payment} ({status}, viewing {viewing})")
    return bad


def approved_settled(
    conn: psycopg.Connection,
    acks: AckLog,
    *,
    wait_s: float = SETTLE_PAYMENTS_S,
    sleep: Callable[[float], None] = time.sleep,
) -> Check:
    """Every approved payment `succeeded`, its viewing `confirmed` (or since `completed`),
    polled until `wait_s` has passed since the check began."""
    records = list({str(r["payment_id"]): r for r in acks.of("approved")}.values())
    started = time.monotonic()
    bad = _unsettled(conn, records)
    while bad and time.monotonic() - started < wait_s:
        sleep(1.0)
        bad = _unsettled(conn, records)
    waited = time.monotonic() - started
    return verdict(
        "approved payments succeeded, viewings confirmed",
        len(records),
        bad,
        note=f"waited {waited:.0f}s" if waited >= 1 else "",
    )


def run_payment_ids(conn: psycopg.Connection, acks: AckLog) -> list[uuid.UUID]:
    """The run's payments: the acked intents and approvals, and every payment of the acked
    bookings' viewings (one may have been made by a retry the load never saw answered)."""
    ids = set(_ids([*acks.of("intent"), *acks.of("approved")], "payment_id"))
    viewings = _ids(acks.of("booking"), "viewing_id")
    ids.update(
        r[0]
        for r in rows(
            conn,
            "SELECT id FROM payments WHERE purpose = 'viewing_fee' AND reference_id = ANY(%s)",
            [viewings],
        )
    )
    return sorted(ids)


def check_all(
    settings: Settings,
    ack_paths: Sequence[Path],
    *,
    since: float | None = None,
    until: float | None = None,
    base_url: str | None = None,
    tokens: Mapping[str, str] | None = None,
    settle_payments_s: float = SETTLE_PAYMENTS_S,
    jobs_wait_s: float = RECOVERY_WAIT_S,
) -> list[Check]:
    """Every invariant over the ack log files, in the order of the module's docstring. The
    job checks look at [since, until] (unix times; default: the log's first and last
    record); the event check reconnects through `base_url` (default: the public one)."""
    acks = read_acks(ack_paths)
    first, last = acks.first_at, acks.last_at
    with psycopg.connect(settings.db.direct_dsn) as conn:
        checks = [
            bookings_stored(conn, acks),
            intents_stored(conn, acks),
            messages_stored(conn, acks),
            signatures_stored(conn, acks),
            *no_double_booking_or_charge(conn, acks, settings.payments.viewing_fee_cents),
            approved_settled(conn, acks, wait_s=settle_payments_s),
            ledger_balanced(conn, run_payment_ids(conn, acks)),
        ]
        start = since if since is not None else first
        end = until if until is not None else last
        if start is not None and end is not None:
            checks += jobs_not_lost(conn, start, end, wait_s=jobs_wait_s)
        checks += events_delivered(conn, settings, acks, base_url=base_url, tokens=tokens)
    return checks
