"""Payments: intents with idempotency, verified webhooks, refunds, the ledger, reconciliation."""
