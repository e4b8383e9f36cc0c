"""Payment use cases: start a payment, apply verified provider events, refund, read; and the
bodies of the payments jobs (capture, refund, reconciliation).

Services never commit: a request's boundary does (the webhook's events, the booking's state
change and the follow-up jobs commit together); the jobs open their own units of work.
Everything about one provider payment is serialised by an advisory lock on its provider
ref, taken before its row exists: `start_payment` takes it after the provider call and then
applies the events that arrived before its row (a webhook faster than the booking's commit),
and a webhook waits for it while the booking's transaction is open.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from sichrplace.integrations.payments import types
from sichrplace.integrations.payments.types import EventKind, PaymentProvider
from sichrplace.listings.rules import Caller
from sichrplace.payments import metrics, repository, rules, tasks
from sichrplace.payments.errors import (
    NotRefundable,
    PaymentDeclined,
    PaymentInProgress,
    PaymentNotFound,
    ProviderUnavailable,
    UnknownProvider,
    WebhookInvalid,
)
from sichrplace.payments.parts import PaymentsParts
from sichrplace.payments.records import PaymentRecord
from sichrplace.payments.sources import Charge, ChargeSource, Purpose
from sichrplace.payments.vocabulary import IssueKind, LedgerKind, PaymentStatus
from sichrplace.platform.db.durability import require_synchronous_commit
from sichrplace.platform.db.engines import Database
from sichrplace.platform.db.sessions import PrimarySession, ReplicaSession
from sichrplace.platform.db.unit import transaction
from sichrplace.platform.jobs import enqueue
from sichrplace.platform.observability import business, tracing
from sichrplace.platform.resilience import DependencyUnavailable

log = structlog.get_logger(__name__)

S = PaymentStatus
WebhookResult = str  # "applied" | "unmatched" | "duplicate" | "ignored"


def _source(parts: PaymentsParts, purpose: Purpose) -> ChargeSource:
    source = parts.sources.get(purpose)
    if source is None:  # a wiring mistake of the composition root, not the client's
        raise RuntimeError(f"no charge source for {purpose!r} (composition.py)")
    return source


def _provider(parts: PaymentsParts, name: str) -> PaymentProvider:
    provider = parts.provider_named(name)
    if provider is None:
        raise RuntimeError(f"payment provider {name!r} is not configured")
    return provider


def intent_key(purpose: str, reference_id: uuid.UUID, installment: int, attempt: int) -> str:
    """The provider's idempotency key for a payment: the same for every request that would
    create the same payment, so concurrent or retried starts get the provider's one intent."""
    return f"sichrplace:{purpose}:{reference_id}:{installment}:{attempt}"


async def start_payment(
    session: PrimarySession,
    parts: PaymentsParts,
    *,
    purpose: Purpose,
    reference_id: uuid.UUID,
    payer: Caller,
    idempotency_key: str | None,
    provider: str | None = None,
    new_charge: Charge | None = None,
) -> PaymentRecord:
    """A payment for what `payer` owes for the reference (the amount from its source), with
    the provider's intent (status requires_action, an approval URL). The payer's live one for
    the same thing is returned again while it waits for approval; one in another state ->
    409 `payment-in-progress`. `idempotency_key` is the client's (request-level replay is the
    endpoint's IdempotencyStore); it is recorded on the span only. `new_charge`: the caller
    made the reference in this very transaction and says what it costs, so there is nothing
    to read back and no earlier payment of it to look for."""
    with tracing.span("payment.intent", {"payment.purpose": purpose}):
        if idempotency_key is not None:
            tracing.set_attributes(**{"payment.idempotency_key": idempotency_key})
        # Before the charge source, which may write too (the deposit fixes its plan).
        await require_synchronous_commit(session)
        charge = new_charge or await _source(parts, purpose).charge_for(
            session, reference_id, payer
        )
        installment = charge.installment
        attempt = 0
        if new_charge is None:
            live = await repository.live_payment(session, purpose, reference_id, installment)
            if live is not None:
                if live.status == S.REQUIRES_ACTION and live.payer_id == payer.id:
                    return live
                raise PaymentInProgress(live.status.value)
            attempt = await repository.count_payments(session, purpose, reference_id, installment)
        chosen = parts.provider if provider is None else _provider(parts, provider)
        try:
            intent = await chosen.create_intent(
                amount_cents=charge.amount_cents,
                currency=parts.currency,
                idempotency_key=intent_key(purpose, reference_id, installment, attempt),
                description=charge.description,
                metadata={
                    "purpose": purpose,
                    "reference_id": str(reference_id),
                    "installment": str(installment),
                },
                return_url=parts.return_url,
            )
        except DependencyUnavailable as exc:
            # The payment SLI's bad event (rolled back: no commit will count it, so now).
            business.failed_now("payment", parties=(payer.id,))
            raise ProviderUnavailable(exc.retry_after) from exc
        except types.PaymentDeclined as exc:
            raise PaymentDeclined(exc.code) from exc
        tracing.set_attributes(**{"payment.provider_ref": intent.provider_ref})
        await repository.lock_ref(session, chosen.name, intent.provider_ref)
        row = await repository.insert_payment(
            session,
            {
                "id": uuid.uuid4(),
                "purpose": purpose,
                "reference_id": reference_id,
                "viewing_id": charge.viewing_id,
                "contract_id": charge.contract_id,
                "installment": installment,
                "payer_id": charge.payer_id,
                "payee_id": charge.payee_id,
                "provider": chosen.name,
                "provider_ref": intent.provider_ref,
                "amount_cents": charge.amount_cents,
                "currency": parts.currency,
                "status": S.REQUIRES_ACTION.value,
                "approval_url": intent.approval_url,
                "description": charge.description,
            },
        )
        if row is None:
            same = await repository.lock_payment_by_ref(session, chosen.name, intent.provider_ref)
            if same is not None:  # a concurrent start got the same intent and stored it first
                return same
            other = await repository.live_payment(session, purpose, reference_id, installment)
            raise PaymentInProgress(other.status.value if other else S.REQUIRES_ACTION.value)
        return await _apply_pending(session, parts, row)


async def payment_for(
    session: PrimarySession | ReplicaSession,
    *,
    viewing_id: uuid.UUID | None = None,
    contract_id: uuid.UUID | None = None,
) -> PaymentRecord | None:
    """The payment of a viewing or a contract: its live one, else the newest."""
    if (viewing_id is None) == (contract_id is None):
        raise ValueError("give exactly one of viewing_id, contract_id")
    return await repository.latest_payment(session, viewing_id=viewing_id, contract_id=contract_id)


async def get_payment(
    session: PrimarySession | ReplicaSession, *, payment_id: uuid.UUID, caller: Caller
) -> PaymentRecord:
    """The payment, for its payer or payee; 404 for everyone else."""
    row = await repository.get_payment(session, payment_id)
    if row is None or caller.id not in (row.payer_id, row.payee_id):
        raise PaymentNotFound()
    return row


async def refund_payment(
    session: PrimarySession, parts: PaymentsParts, *, payment_id: uuid.UUID, reason: str
) -> None:
    """Refund a payment in full: `refund_pending` now, the provider call in the refund job
    (enqueued in this transaction). Idempotent: a refund under way or done, or a payment whose
    money has not moved, changes nothing (should it still succeed, its source's `on_paid`
    answers False and it is refunded then). A refund the provider refused -> 409."""
    with tracing.span("payment.refund", {"payment.id": str(payment_id)}):
        payment = await repository.lock_payment(session, payment_id)
        if payment is None:
            raise PaymentNotFound()
        action = rules.refund_action(payment.status)
        if action == "refuse":
            raise NotRefundable(payment.status.value)
        if action == "refund":
            await require_synchronous_commit(session)
            await _begin_refund(session, parts, payment, reason)


async def _begin_refund(
    session: PrimarySession, parts: PaymentsParts, payment: PaymentRecord, reason: str
) -> PaymentRecord:
    row = await repository.set_status(session, payment.id, S.REFUND_PENDING)
    await repository.insert_refund(
        session, payment.id, amount_cents=payment.amount_cents, reason=reason
    )
    await enqueue(session, tasks.refund_payment, queue=parts.job_queue, payment_id=str(payment.id))
    return row


# --- webhooks and the state machine ------------------------------------------------------------


async def apply_webhook(
    session: PrimarySession,
    parts: PaymentsParts,
    provider_name: str,
    headers: Mapping[str, str],
    body: bytes,
) -> WebhookResult:
    """Verify a webhook delivery and apply its event once, in the caller's transaction."""
    with tracing.span("payment.webhook", {"payment.provider": provider_name}):
        provider = parts.provider_named(provider_name)
        if provider is None:
            raise UnknownProvider(provider_name)
        try:
            event = await provider.verify_webhook(headers, body)
        except types.WebhookRejected as exc:
            raise WebhookInvalid(str(exc) or "signature") from None
        except DependencyUnavailable as exc:  # PayPal verifies through an API call
            raise ProviderUnavailable(exc.retry_after) from exc
        tracing.set_attributes(
            **{"payment.event_id": event.event_id, "payment.event_kind": event.kind}
        )
        # The event, the payment's new state, the ledger and the booking or deposit it pays
        # commit together: all of it on the standby before the provider hears 200.
        await require_synchronous_commit(session)
        if not await repository.store_event(session, event):
            return "duplicate"
        if event.provider_ref is None or event.kind == "ignored":
            await repository.mark_applied(session, event.provider, event.event_id, None)
            return "ignored"
        await repository.lock_ref(session, event.provider, event.provider_ref)
        payment = await repository.lock_payment_by_ref(session, event.provider, event.provider_ref)
        if payment is None:
            # The booking that created the intent has not committed yet: kept, and applied
            # by start_payment (which waits for this transaction's lock) before it commits.
            return "unmatched"
        await _apply_pending(session, parts, payment)
        return "applied"


async def _apply_pending(
    session: PrimarySession, parts: PaymentsParts, payment: PaymentRecord
) -> PaymentRecord:
    """Apply the payment's stored events in the order they happened; an event that must
    wait (a refund before its success) stays and is tried again after each change."""
    # Read once: the ref's lock is held, so no other transaction applies or adds to them
    # until this one ends (a delivery stored meanwhile waits for the lock and applies it).
    pending = await repository.pending_events(session, payment.provider, payment.provider_ref)
    while True:
        changed = False
        for event in list(pending):
            step = rules.transition(payment.status, event.kind)  # type: ignore[arg-type]
            if step.defer:
                continue
            before = payment.status
            payment = await _apply(session, parts, payment, step, refund_ref=event.refund_ref)
            await repository.mark_applied(session, event.provider, event.event_id, payment.id)
            pending.remove(event)
            if payment.status != before:
                changed = True
                break
        if not changed:
            return payment


_OUTCOMES: dict[PaymentStatus, business.PaymentOutcome] = {
    S.SUCCEEDED: "succeeded",
    S.FAILED: "declined",  # the issuer's or payer's answer, not our failure
    S.REFUNDED: "refunded",
}


async def _apply(
    session: PrimarySession,
    parts: PaymentsParts,
    payment: PaymentRecord,
    step: rules.Transition,
    *,
    refund_ref: str | None,
) -> PaymentRecord:
    if not step.changes(payment.status):
        return payment
    row = await repository.set_status(session, payment.id, step.status)
    outcome = _OUTCOMES.get(step.status)
    if outcome is not None:
        # Mostly from a provider's webhook (no request mark): the payer says if synthetic.
        business.payment(session, outcome, parties=(payment.payer_id,))
    for effect in step.effects:
        if effect == "capture":
            await enqueue(
                session, tasks.capture_payment, queue=parts.job_queue, payment_id=str(row.id)
            )
        elif effect == "record_charge":
            await repository.record_ledger(
                session,
                payment_id=row.id,
                kind=LedgerKind.CHARGE,
                provider=row.provider,
                object_ref=row.provider_ref,
                amount_cents=row.amount_cents,
            )
        elif effect == "notify_paid":
            served = await _source(parts, row.purpose).on_paid(  # type: ignore[arg-type]
                session, row.reference_id, row.id
            )
            if not served:
                log.info("payment_refund_unserved", payment_id=str(row.id))
                row = await _begin_refund(
                    session, parts, row, "Nicht mehr verfügbar / no longer available"
                )
        elif effect == "record_refund":
            ref = refund_ref or f"{row.provider_ref}:refund"
            await repository.insert_refund(
                session, row.id, amount_cents=row.amount_cents, reason="provider"
            )
            await repository.update_refund(session, row.id, status="succeeded", refund_ref=ref)
            await repository.record_ledger(
                session,
                payment_id=row.id,
                kind=LedgerKind.REFUND,
                provider=row.provider,
                object_ref=ref,
                amount_cents=-row.amount_cents,
            )
        elif effect == "notify_refunded":
            await _source(parts, row.purpose).on_refunded(  # type: ignore[arg-type]
                session, row.reference_id, row.id
            )
    if step.status == S.REFUND_FAILED:
        await repository.update_refund(session, row.id, status="failed", refund_ref=None)
    return row


async def _apply_outcome(
    db: Database,
    parts: PaymentsParts,
    payment_id: uuid.UUID,
    kind: EventKind | None,
    *,
    refund_ref: str | None = None,
) -> PaymentRecord | None:
    """A provider's direct answer (capture, refund) applied as its event would be: under the
    same locks, through the same rules, so the answer and the webhook count once."""
    async with transaction(db) as session:
        current = await repository.get_payment(session, payment_id)
        if current is None:
            return None
        await repository.lock_ref(session, current.provider, current.provider_ref)
        payment = await repository.lock_payment(session, payment_id)
        assert payment is not None
        await require_synchronous_commit(session)
        if refund_ref is not None:
            await repository.update_refund(session, payment.id, status=None, refund_ref=refund_ref)
        if kind is not None:
            step = rules.transition(payment.status, kind)
            if not step.defer:
                payment = await _apply(session, parts, payment, step, refund_ref=refund_ref)
        return await _apply_pending(session, parts, payment)


# --- job bodies (tasks.py runs them; tests call them directly) --------------------------------


async def run_capture(db: Database, parts: PaymentsParts, payment_id: uuid.UUID) -> str | None:
    """Capture an approved payment (PayPal). Outages raise: the job retries."""
    async with transaction(db) as session:
        payment = await repository.get_payment(session, payment_id)
    if payment is None or payment.status != S.PROCESSING:
        return None if payment is None else payment.status.value
    provider = _provider(parts, payment.provider)
    kind: EventKind | None
    try:
        intent = await provider.capture(
            payment.provider_ref, idempotency_key=f"capture:{payment.id}"
        )
        kind = {
            "succeeded": "payment_succeeded",
            "failed": "payment_failed",
            "cancelled": "payment_failed",
        }.get(intent.status)  # type: ignore[assignment]
    except types.PaymentDeclined:
        kind = "payment_failed"
    row = await _apply_outcome(db, parts, payment.id, kind)
    return None if row is None else row.status.value


async def run_refund(db: Database, parts: PaymentsParts, payment_id: uuid.UUID) -> str | None:
    """Ask the provider to refund a `refund_pending` payment (idempotency key
    `refund:<payment id>`, so a retried call refunds once). A timeout or outage raises and
    the job retries; the answer and the refund webhook end in `refunded` once."""
    async with transaction(db) as session:
        payment = await repository.get_payment(session, payment_id)
    if payment is None or payment.status != S.REFUND_PENDING:
        return None if payment is None else payment.status.value
    provider = _provider(parts, payment.provider)
    with tracing.span("payment.refund", {"payment.id": str(payment.id)}):
        refund_ref: str | None = None
        kind: EventKind | None
        try:
            refund = await provider.refund(
                payment.provider_ref,
                amount_cents=payment.amount_cents,
                idempotency_key=f"refund:{payment.id}",
            )
            refund_ref = refund.refund_ref
            kind = {"succeeded": "refund_succeeded", "failed": "refund_failed"}.get(refund.status)  # type: ignore[assignment]
        except types.PaymentDeclined:
            kind = "refund_failed"
        row = await _apply_outcome(db, parts, payment.id, kind, refund_ref=refund_ref)
    return None if row is None else row.status.value


# How much earlier than the window the provider's list starts (see `reconcile`).
_LIST_MARGIN = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    compared: int = 0
    found: int = 0
    new: int = 0
    open: int = 0
    by_kind: Mapping[str, int] = field(default_factory=dict)


async def reconcile(
    db: Database,
    parts: PaymentsParts,
    *,
    now: datetime,
    lookback: timedelta = timedelta(days=7),
    settle: timedelta = timedelta(minutes=10),
    providers: Sequence[str] | None = None,
) -> ReconcileReport:
    """Compare our payments and the ledger with each provider's list of payments created in
    the last `lookback`; differences become open `reconciliation_issues` (found again: only
    touched; not found any more: resolved). Payments younger than `settle` are skipped (their
    webhook may be on its way). Idempotent."""
    compared = found = new = 0
    by_kind: dict[str, int] = {}
    for name in providers or list(parts.providers):
        provider = _provider(parts, name)
        since = now - lookback
        # Asked from a little earlier than our window: a row is stamped when its booking's
        # transaction began, before the provider made the payment on its own clock.
        theirs = await provider.list_payments(created_after=since - _LIST_MARGIN)
        new_kinds: list[IssueKind] = []
        async with transaction(db) as session:
            ours = await repository.ledger_totals(
                session, name, created_after=since, created_before=now
            )
            # A listed payment whose row lies outside the window is compared all the same
            # (else it is "missing locally" at the window's edge, and stays so forever).
            known = {row.provider_ref for row in ours}
            ours += await repository.ledger_totals_of(
                session, name, sorted({p.provider_ref for p in theirs} - known)
            )
            # Younger than the settling time or the provider's listing delay: not compared yet.
            wait = max(settle, provider.listing_delay)
            recent = {row.provider_ref for row in ours if row.created_at > now - wait}
            settled = [row for row in ours if row.provider_ref not in recent]
            listed = [p for p in theirs if p.provider_ref not in recent]
            findings = rules.compare(settled, listed)
            for finding in findings:
                if await repository.upsert_issue(
                    session,
                    provider=name,
                    provider_ref=finding.provider_ref,
                    payment_id=finding.payment_id,
                    kind=finding.kind,
                    detail=finding.detail,
                ):
                    new_kinds.append(finding.kind)
                by_kind[finding.kind.value] = by_kind.get(finding.kind.value, 0) + 1
            refs = sorted({row.provider_ref for row in settled} | {p.provider_ref for p in listed})
            await repository.resolve_issues(
                session, name, refs, [(f.provider_ref, f.kind.value) for f in findings]
            )
            compared += len(refs)
            found += len(findings)
        # Counted once the issues are committed (a rolled-back run found nothing).
        for kind in new_kinds:
            metrics.count_issue(kind)
        new += len(new_kinds)
    async with transaction(db) as session:
        open_count = await repository.count_open_issues(session)
    metrics.OPEN_ISSUES.set(open_count)
    return ReconcileReport(compared, found, new, open_count, by_kind)


__all__ = [
    "IssueKind",
    "PaymentRecord",
    "ReconcileReport",
    "apply_webhook",
    "get_payment",
    "payment_for",
    "reconcile",
    "refund_payment",
    "run_capture",
    "run_refund",
    "start_payment",
]
