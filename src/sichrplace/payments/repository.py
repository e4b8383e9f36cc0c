"""All payments SQL (Core; typed records back). Locks: a payment's provider ref is serialised
by a transaction-scoped advisory lock (taken before its row exists, so the booking's insert
and an early webhook cannot miss each other), then its row by FOR UPDATE."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Table, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from sichrplace.integrations.payments.types import ProviderEvent
from sichrplace.payments.models import (
    IdempotencyKey,
    LedgerEntry,
    Payment,
    PaymentEvent,
    PaymentRefund,
    ReconciliationIssue,
)
from sichrplace.payments.records import (
    EventRecord,
    IssueRecord,
    LedgerTotal,
    PaymentRecord,
    RefundRecord,
)
from sichrplace.payments.vocabulary import LIVE_STATUSES, IssueKind, LedgerKind, PaymentStatus
from sichrplace.platform.db.sessions import PrimarySession, ReplicaSession

payments: Table = Payment.__table__  # type: ignore[assignment]
keys: Table = IdempotencyKey.__table__  # type: ignore[assignment]
events: Table = PaymentEvent.__table__  # type: ignore[assignment]
ledger: Table = LedgerEntry.__table__  # type: ignore[assignment]
refunds: Table = PaymentRefund.__table__  # type: ignore[assignment]
issues: Table = ReconciliationIssue.__table__  # type: ignore[assignment]

PAYMENT_COLUMNS = [payments.c[f.name] for f in dataclasses.fields(PaymentRecord)]
EVENT_COLUMNS = [events.c[f.name] for f in dataclasses.fields(EventRecord)]
REFUND_COLUMNS = [refunds.c[f.name] for f in dataclasses.fields(RefundRecord)]
ISSUE_COLUMNS = [issues.c[f.name] for f in dataclasses.fields(IssueRecord)]

AnySession = PrimarySession | ReplicaSession


def _payment(row: Row[Any]) -> PaymentRecord:
    values = row._asdict()
    return PaymentRecord(**{**values, "status": PaymentStatus(values["status"])})


def _one_payment(row: Row[Any] | None) -> PaymentRecord | None:
    return None if row is None else _payment(row)


# --- payments --------------------------------------------------------------------------------


async def lock_ref(session: PrimarySession, provider: str, provider_ref: str) -> None:
    """Serialise everything about one provider payment until the transaction ends."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
        {"k": f"payment:{provider}:{provider_ref}"},
    )


async def insert_payment(
    session: PrimarySession, values: Mapping[str, Any]
) -> PaymentRecord | None:
    """The new payment, or None when a row for the provider ref or a live payment for the
    same reference exists (no conflict target: every unique index counts)."""
    stmt = pg_insert(payments).values(**values).on_conflict_do_nothing().returning(*PAYMENT_COLUMNS)
    return _one_payment((await session.execute(stmt)).one_or_none())


async def get_payment(session: AnySession, payment_id: uuid.UUID) -> PaymentRecord | None:
    stmt = select(*PAYMENT_COLUMNS).where(payments.c.id == payment_id)
    return _one_payment((await session.execute(stmt)).one_or_none())


async def lock_payment(session: PrimarySession, payment_id: uuid.UUID) -> PaymentRecord | None:
    stmt = select(*PAYMENT_COLUMNS).where(payments.c.id == payment_id).with_for_update()
    return _one_payment((await session.execute(stmt)).one_or_none())


async def lock_payment_by_ref(
    session: PrimarySession, provider: str, provider_ref: str
) -> PaymentRecord | None:
    stmt = (
        select(*PAYMENT_COLUMNS)
        .where(payments.c.provider == provider, payments.c.provider_ref == provider_ref)
        .with_for_update()
    )
    return _one_payment((await session.execute(stmt)).one_or_none())


async def live_payment(
    session: PrimarySession, purpose: str, reference_id: uuid.UUID, installment: int
) -> PaymentRecord | None:
    stmt = select(*PAYMENT_COLUMNS).where(
        payments.c.purpose == purpose,
        payments.c.reference_id == reference_id,
        payments.c.installment == installment,
        payments.c.status.in_([s.value for s in LIVE_STATUSES]),
    )
    return _one_payment((await session.execute(stmt)).one_or_none())


async def count_payments(
    session: PrimarySession, purpose: str, reference_id: uuid.UUID, installment: int
) -> int:
    stmt = select(func.count()).where(
        payments.c.purpose == purpose,
        payments.c.reference_id == reference_id,
        payments.c.installment == installment,
    )
    return int((await session.execute(stmt)).scalar_one())


async def latest_payment(
    session: AnySession, *, viewing_id: uuid.UUID | None, contract_id: uuid.UUID | None
) -> PaymentRecord | None:
    stmt = select(*PAYMENT_COLUMNS)
    if viewing_id is not None:
        stmt = stmt.where(payments.c.viewing_id == viewing_id)
    if contract_id is not None:
        stmt = stmt.where(payments.c.contract_id == contract_id)
    # The live one if any (at most one per installment), else the newest.
    live = payments.c.status.in_([s.value for s in LIVE_STATUSES])
    stmt = stmt.order_by(live.desc(), payments.c.created_at.desc(), payments.c.id).limit(1)
    return _one_payment((await session.execute(stmt)).one_or_none())


async def set_status(
    session: PrimarySession, payment_id: uuid.UUID, status: PaymentStatus
) -> PaymentRecord:
    values: dict[str, Any] = {"status": status.value, "updated_at": func.clock_timestamp()}
    if status == PaymentStatus.SUCCEEDED:
        values["succeeded_at"] = func.coalesce(payments.c.succeeded_at, func.clock_timestamp())
    if status == PaymentStatus.REFUNDED:
        values["refunded_at"] = func.clock_timestamp()
    stmt = (
        update(payments)
        .where(payments.c.id == payment_id)
        .values(**values)
        .returning(*PAYMENT_COLUMNS)
    )
    return _payment((await session.execute(stmt)).one())


# --- webhook events --------------------------------------------------------------------------


async def store_event(session: PrimarySession, event: ProviderEvent) -> bool:
    """Keep a verified event; False when its id was stored before (a redelivery). A
    concurrent delivery of the same id waits here until the first one's transaction ends."""
    stmt = (
        pg_insert(events)
        .values(
            provider=event.provider,
            event_id=event.event_id,
            kind=event.kind,
            raw_type=event.raw_type,
            provider_ref=event.provider_ref,
            refund_ref=event.refund_ref,
            amount_cents=event.amount_cents,
            occurred_at=event.occurred_at,
        )
        .on_conflict_do_nothing(index_elements=["provider", "event_id"])
        .returning(events.c.event_id)
    )
    return (await session.execute(stmt)).one_or_none() is not None


async def pending_events(
    session: PrimarySession, provider: str, provider_ref: str
) -> list[EventRecord]:
    stmt = (
        select(*EVENT_COLUMNS)
        .where(
            events.c.provider == provider,
            events.c.provider_ref == provider_ref,
            events.c.applied_at.is_(None),
        )
        .order_by(events.c.occurred_at, events.c.received_at, events.c.event_id)
    )
    return [EventRecord(**r._asdict()) for r in (await session.execute(stmt)).all()]


async def mark_applied(
    session: PrimarySession, provider: str, event_id: str, payment_id: uuid.UUID | None
) -> None:
    await session.execute(
        update(events)
        .where(events.c.provider == provider, events.c.event_id == event_id)
        .values(applied_at=func.clock_timestamp(), payment_id=payment_id)
    )


# --- ledger ----------------------------------------------------------------------------------


async def record_ledger(
    session: PrimarySession,
    *,
    payment_id: uuid.UUID,
    kind: LedgerKind,
    provider: str,
    object_ref: str,
    amount_cents: int,
) -> bool:
    """One entry per (kind, provider object); False when it was recorded before."""
    stmt = (
        pg_insert(ledger)
        .values(
            payment_id=payment_id,
            kind=kind.value,
            provider=provider,
            object_ref=object_ref,
            amount_cents=amount_cents,
        )
        .on_conflict_do_nothing(index_elements=["kind", "provider", "object_ref"])
        .returning(ledger.c.id)
    )
    return (await session.execute(stmt)).one_or_none() is not None


async def ledger_net(session: AnySession, payment_id: uuid.UUID) -> int:
    stmt = select(func.coalesce(func.sum(ledger.c.amount_cents), 0)).where(
        ledger.c.payment_id == payment_id
    )
    return int((await session.execute(stmt)).scalar_one())


_LEDGER_TOTALS = (
    "SELECT p.id AS payment_id, p.provider_ref, p.status, p.amount_cents, p.created_at,"
    " coalesce((SELECT sum(l.amount_cents) FROM ledger_entries l"
    "           WHERE l.payment_id = p.id), 0) AS ledger_net_cents"
    " FROM payments p WHERE p.provider = :provider"
)


def _ledger_total(r: Row[Any]) -> LedgerTotal:
    return LedgerTotal(
        payment_id=r.payment_id,
        provider_ref=r.provider_ref,
        status=PaymentStatus(r.status),
        amount_cents=int(r.amount_cents),
        ledger_net_cents=int(r.ledger_net_cents),
        created_at=r.created_at,
    )


async def ledger_totals(
    session: PrimarySession, provider: str, *, created_after: datetime, created_before: datetime
) -> list[LedgerTotal]:
    stmt = text(_LEDGER_TOTALS + " AND p.created_at > :after AND p.created_at <= :before")
    rows = await session.execute(
        stmt, {"provider": provider, "after": created_after, "before": created_before}
    )
    return [_ledger_total(r) for r in rows]


async def ledger_totals_of(
    session: PrimarySession, provider: str, provider_refs: Sequence[str]
) -> list[LedgerTotal]:
    """The payments of these provider refs (whenever they were created)."""
    if not provider_refs:
        return []
    stmt = text(_LEDGER_TOTALS + " AND p.provider_ref = ANY(CAST(:refs AS text[]))")
    rows = await session.execute(stmt, {"provider": provider, "refs": list(provider_refs)})
    return [_ledger_total(r) for r in rows]


# --- refunds ---------------------------------------------------------------------------------


async def insert_refund(
    session: PrimarySession, payment_id: uuid.UUID, *, amount_cents: int, reason: str
) -> None:
    await session.execute(
        pg_insert(refunds)
        .values(
            id=uuid.uuid4(),
            payment_id=payment_id,
            amount_cents=amount_cents,
            reason=reason,
            status="pending",
        )
        .on_conflict_do_nothing(index_elements=["payment_id"])
    )


async def get_refund(session: AnySession, payment_id: uuid.UUID) -> RefundRecord | None:
    stmt = select(*REFUND_COLUMNS).where(refunds.c.payment_id == payment_id)
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else RefundRecord(**row._asdict())


async def update_refund(
    session: PrimarySession, payment_id: uuid.UUID, *, status: str | None, refund_ref: str | None
) -> None:
    values: dict[str, Any] = {"updated_at": func.clock_timestamp()}
    if status is not None:
        values["status"] = status
    if refund_ref is not None:
        values["refund_ref"] = func.coalesce(refunds.c.refund_ref, refund_ref)
    await session.execute(
        update(refunds).where(refunds.c.payment_id == payment_id).values(**values)
    )


# --- Idempotency-Keys ------------------------------------------------------------------------


async def claim_key(
    session: PrimarySession,
    user_id: uuid.UUID,
    key: str,
    fingerprint: bytes,
    *,
    ttl_seconds: int,
) -> bool:
    """True: this transaction owns the key (a new row, or an expired one taken over).

    A concurrent claim of the same key waits on the uncommitted row (Postgres' unique-index
    wait) until the owner's transaction ends: after a commit it gets False (replay), after a
    rollback it inserts and owns the key itself."""
    stmt = pg_insert(keys).values(
        user_id=user_id,
        key=key,
        fingerprint=fingerprint,
        expires_at=func.now() + func.make_interval(0, 0, 0, 0, 0, 0, ttl_seconds),
    )
    claim = stmt.on_conflict_do_update(
        index_elements=["user_id", "key"],
        set_={
            "fingerprint": stmt.excluded.fingerprint,
            "status_code": None,
            "response": None,
            "created_at": func.now(),
            "expires_at": stmt.excluded.expires_at,
        },
        where=keys.c.expires_at <= func.now(),
    ).returning(keys.c.key)
    return (await session.execute(claim)).one_or_none() is not None


async def stored_response(
    session: PrimarySession, user_id: uuid.UUID, key: str
) -> tuple[bytes, int | None, Any] | None:
    stmt = select(keys.c.fingerprint, keys.c.status_code, keys.c.response).where(
        keys.c.user_id == user_id, keys.c.key == key
    )
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else (bytes(row[0]), row[1], row[2])


async def store_response(
    session: PrimarySession, user_id: uuid.UUID, key: str, status_code: int, body: Any
) -> None:
    await session.execute(
        update(keys)
        .where(keys.c.user_id == user_id, keys.c.key == key)
        .values(status_code=status_code, response=body)
    )


async def delete_expired_keys(session: PrimarySession, *, limit: int) -> int:
    result = await session.execute(
        text(
            "DELETE FROM idempotency_keys WHERE ctid = ANY (ARRAY("
            " SELECT ctid FROM idempotency_keys WHERE expires_at <= now() LIMIT :limit))"
        ),
        {"limit": limit},
    )
    return int(getattr(result, "rowcount", 0) or 0)


# --- reconciliation issues -------------------------------------------------------------------


async def upsert_issue(
    session: PrimarySession,
    *,
    provider: str,
    provider_ref: str,
    payment_id: uuid.UUID | None,
    kind: IssueKind,
    detail: str,
) -> bool:
    """Open the issue, or touch the open one; True when it is new."""
    stmt = text(
        "INSERT INTO reconciliation_issues (provider, provider_ref, payment_id, kind, detail)"
        " VALUES (:provider, :ref, :payment_id, :kind, :detail)"
        " ON CONFLICT (provider, provider_ref, kind) WHERE resolved_at IS NULL"
        " DO UPDATE SET last_seen_at = now(), detail = EXCLUDED.detail"
        " RETURNING (xmax = 0) AS inserted"
    )
    row = (
        await session.execute(
            stmt,
            {
                "provider": provider,
                "ref": provider_ref,
                "payment_id": payment_id,
                "kind": kind.value,
                "detail": detail,
            },
        )
    ).one()
    return bool(row.inserted)


async def resolve_issues(
    session: PrimarySession,
    provider: str,
    compared: Sequence[str],
    still_open: Sequence[tuple[str, str]],
) -> int:
    """Close the open issues of the payments this run compared that it did not find again."""
    result = await session.execute(
        text(
            "UPDATE reconciliation_issues SET resolved_at = now()"
            " WHERE provider = :provider AND resolved_at IS NULL"
            " AND provider_ref = ANY(CAST(:compared AS text[]))"
            " AND (provider_ref, kind) NOT IN"
            " (SELECT * FROM unnest(CAST(:refs AS text[]), CAST(:kinds AS text[])))"
        ),
        {
            "provider": provider,
            "compared": list(compared),
            "refs": [ref for ref, _ in still_open],
            "kinds": [kind for _, kind in still_open],
        },
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def open_issues(session: AnySession, *, limit: int) -> list[IssueRecord]:
    stmt = (
        select(*ISSUE_COLUMNS)
        .where(issues.c.resolved_at.is_(None))
        .order_by(issues.c.first_seen_at.desc(), issues.c.id.desc())
        .limit(limit)
    )
    rows = (await session.execute(stmt)).all()
    return [IssueRecord(**{**r._asdict(), "kind": IssueKind(r.kind)}) for r in rows]


async def count_open_issues(session: AnySession) -> int:
    stmt = select(func.count()).where(issues.c.resolved_at.is_(None))
    return int((await session.execute(stmt)).scalar_one())


# --- personal data (privacy: export) ----------------------------------------------------------


async def export_payments(session: PrimarySession, user_id: uuid.UUID) -> list[dict[str, Any]]:
    """The user's payments as payer or payee: amounts, statuses, times; no provider reference
    or checkout URL."""
    stmt = text(
        """
        SELECT id, purpose, reference_id, installment,
               CASE WHEN payer_id = :uid THEN 'payer' ELSE 'payee' END AS role,
               provider, amount_cents, currency, status, description,
               created_at, updated_at, succeeded_at, refunded_at
        FROM payments WHERE payer_id = :uid OR payee_id = :uid
        ORDER BY created_at, id
        """
    )
    return [dict(r._mapping) for r in await session.execute(stmt, {"uid": user_id})]


async def export_ledger(session: PrimarySession, user_id: uuid.UUID) -> list[dict[str, Any]]:
    """The ledger entries of the user's payments (no provider object reference)."""
    stmt = text(
        """
        SELECT e.id, e.payment_id, e.kind, e.amount_cents, e.currency, e.created_at
        FROM ledger_entries e JOIN payments p ON p.id = e.payment_id
        WHERE p.payer_id = :uid OR p.payee_id = :uid
        ORDER BY e.id
        """
    )
    return [dict(r._mapping) for r in await session.execute(stmt, {"uid": user_id})]
