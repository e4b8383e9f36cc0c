"""Payments jobs: capture an approved payment (PayPal), refund, reconcile with the providers
(periodic), and drop expired Idempotency-Keys (periodic). Handlers are idempotent: a capture
or refund carries the provider idempotency key of its payment, and its outcome goes through
the same rules as the provider's webhook, so either one arriving first counts once."""

from __future__ import annotations

import uuid

import structlog

from sichrplace.config import get_settings
from sichrplace.kit.clock import utcnow
from sichrplace.payments import service
from sichrplace.payments.parts import PAYMENTS
from sichrplace.platform.db.unit import transaction
from sichrplace.platform.jobs import MAINTENANCE_QUEUE, job_parts, periodic, task

log = structlog.get_logger(__name__)

QUEUE = "payments"


@task(name="payments.capture", queue=QUEUE, max_attempts=8)
async def capture_payment(payment_id: str) -> None:
    """Capture a payment its payer approved (a provider outage raises: retried with backoff)."""
    parts = job_parts()
    status = await service.run_capture(parts.db, parts.get(PAYMENTS), uuid.UUID(payment_id))
    log.info("payment_captured", payment_id=payment_id, status=status)


@task(name="payments.refund", queue=QUEUE, max_attempts=8)
async def refund_payment(payment_id: str) -> None:
    """Refund a payment through its provider (timeouts raise: retried with backoff; the
    provider's idempotency key `refund:<payment id>` makes the retries refund once)."""
    parts = job_parts()
    status = await service.run_refund(parts.db, parts.get(PAYMENTS), uuid.UUID(payment_id))
    log.info("payment_refund_done", payment_id=payment_id, status=status)


@periodic(cron=get_settings().payments.reconcile_cron)
@task(
    name="payments.reconcile",
    queue=MAINTENANCE_QUEUE,
    max_attempts=1,  # the next tick is the retry
    queueing_lock="payments.reconcile",
)
async def reconcile(timestamp: int | None = None) -> int:
    """Compare the ledger and payments with each provider; differences -> open issues."""
    parts = job_parts()
    report = await service.reconcile(parts.db, parts.get(PAYMENTS), now=utcnow())
    log.info(
        "payments_reconciled",
        compared=report.compared,
        found=report.found,
        new=report.new,
        open=report.open,
    )
    return report.found


@periodic(cron="41 * * * *")
@task(
    name="payments.cleanup_idempotency_keys",
    queue=MAINTENANCE_QUEUE,
    max_attempts=1,
    queueing_lock="payments.cleanup_idempotency_keys",
)
async def cleanup_idempotency_keys(timestamp: int | None = None) -> int:
    """Delete Idempotency-Keys past their 24 hours, in batches (short transactions)."""
    parts = job_parts()
    store = parts.get(PAYMENTS).idempotency
    deleted = 0
    while True:
        async with transaction(parts.db) as session:
            batch = await store.cleanup(session)
        deleted += batch
        if batch == 0:
            break
    log.info("idempotency_keys_cleaned", deleted=deleted)
    return deleted
