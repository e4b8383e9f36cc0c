"""The ledger balanced: each of the run's payments has exactly the ledger entries its status
says money moved (one charge of its amount once paid, one refund of minus its amount once
refunded, nothing before), so the entries of the run sum to what was paid and not returned."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg

from sichrplace.chaos.check import Check, rows, verdict
from sichrplace.payments.vocabulary import LedgerKind, PaymentStatus

S = PaymentStatus
# Money is with us: one charge, no refund yet (a pending or refused refund moved nothing).
_CHARGED = (S.SUCCEEDED, S.REFUND_PENDING, S.REFUND_FAILED)

_ENTRIES_SQL = f"""
SELECT p.id, p.status, p.amount_cents,
       count(l.id) FILTER (WHERE l.kind = '{LedgerKind.CHARGE.value}') AS charges,
       coalesce(sum(l.amount_cents) FILTER (WHERE l.kind = '{LedgerKind.CHARGE.value}'), 0),
       count(l.id) FILTER (WHERE l.kind = '{LedgerKind.REFUND.value}') AS refunds,
       coalesce(sum(l.amount_cents) FILTER (WHERE l.kind = '{LedgerKind.REFUND.value}'), 0)
  FROM payments p LEFT JOIN ledger_entries l ON l.payment_id = p.id
 WHERE p.id = ANY(%s)
 GROUP BY p.id
"""  # noqa: S608 - the ledger's kind words are written in; the ids are bound


@dataclass(frozen=True, slots=True)
class Entries:
    """A payment's ledger entries: how many charges and refunds, and their sums."""

    charges: int
    charged: int
    refunds: int
    refunded: int


def expected_entries(status: str, amount_cents: int) -> Entries:
    """What the ledger must hold for a payment in `status` of `amount_cents`."""
    if status in _CHARGED:
        return Entries(1, amount_cents, 0, 0)
    if status == S.REFUNDED:
        return Entries(1, amount_cents, 1, -amount_cents)
    return Entries(0, 0, 0, 0)  # requires_action, processing, failed: nothing moved


def ledger_balanced(conn: psycopg.Connection, payment_ids: Sequence[uuid.UUID]) -> Check:
    bad = []
    net = 0
    for payment, status, amount, *counts in rows(conn, _ENTRIES_SQL, [list(payment_ids)]):
        found = Entries(*(int(c) for c in counts))
        if found != expected_entries(status, int(amount)):
            bad.append(
                f"{payment} ({status}: {found.charges} charges {found.charged},"
                f" {found.refunds} refunds {found.refunded})"
            )
        net += found.charged + found.refunded
    return verdict("ledger balanced", len(payment_ids), bad, note=f"net {net / 100:.2f} EUR")
