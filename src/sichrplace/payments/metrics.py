"""Reconciliation's metrics: open differences (a gauge, alert on > 0) and new ones found."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from sichrplace.payments.vocabulary import IssueKind

OPEN_ISSUES = Gauge(
    "sichrplace_payment_reconciliation_open_issues",
    "Differences between our payments/ledger and the providers, open after the last run.",
)
ISSUES_FOUND = Counter(
    "sichrplace_payment_reconciliation_issues_total",
    "Differences found by reconciliation (each counted once, when first found), by kind.",
    ["kind"],
)
for _kind in IssueKind:
    ISSUES_FOUND.labels(_kind.value)


def count_issue(kind: IssueKind) -> None:
    ISSUES_FOUND.labels(kind.value).inc()
