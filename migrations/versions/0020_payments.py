"""Payments: payments, Idempotency-Keys, webhook events, the ledger, refunds, reconciliation.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05

The database keeps the money invariants, whatever interleaving of requests, webhooks and jobs:
- no double charge: one live payment per (purpose, reference, installment), a partial unique
  index over the live states (a viewing's fee; each of a contract's deposit installments);
- one provider object is one payment row (unique (provider, provider_ref));
- a webhook event is stored once per (provider, event_id): redeliveries change nothing;
- the ledger records a charge or a refund once (unique (kind, provider, object_ref)), in
  signed integer cents (charges positive, refunds negative), EUR only.
"""

from __future__ import annotations

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

LIVE = "status IN ('requires_action', 'processing', 'succeeded', 'refund_pending', 'refund_failed')"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE payments (
            id uuid NOT NULL,
            purpose text NOT NULL,
            reference_id uuid NOT NULL,
            viewing_id uuid,
            contract_id uuid,
            installment smallint NOT NULL DEFAULT 1,
            payer_id uuid NOT NULL,
            payee_id uuid NOT NULL,
            provider text NOT NULL,
            provider_ref text NOT NULL,
            amount_cents bigint NOT NULL,
            currency text NOT NULL DEFAULT 'EUR',
            status text NOT NULL,
            approval_url text,
            description text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            succeeded_at timestamptz,
            refunded_at timestamptz,
            CONSTRAINT pk_payments PRIMARY KEY (id),
            CONSTRAINT fk_payments_viewing_id_viewings FOREIGN KEY (viewing_id)
                REFERENCES viewings (id),
            CONSTRAINT fk_payments_contract_id_contracts FOREIGN KEY (contract_id)
                REFERENCES contracts (id),
            CONSTRAINT fk_payments_payer_id_users FOREIGN KEY (payer_id) REFERENCES users (id),
            CONSTRAINT fk_payments_payee_id_users FOREIGN KEY (payee_id) REFERENCES users (id),
            CONSTRAINT uq_payments_provider_ref UNIQUE (provider, provider_ref),
            CONSTRAINT ck_payments_purpose CHECK (purpose IN ('viewing_fee', 'deposit')),
            CONSTRAINT ck_payments_provider CHECK (provider IN ('stripe', 'paypal')),
            CONSTRAINT ck_payments_status CHECK (status IN ('requires_action', 'processing',
                'succeeded', 'failed', 'refund_pending', 'refunded', 'refund_failed')),
            CONSTRAINT ck_payments_amount_positive CHECK (amount_cents > 0),
            CONSTRAINT ck_payments_currency CHECK (currency = 'EUR'),
            CONSTRAINT ck_payments_installment CHECK (installment BETWEEN 1 AND 3),
            CONSTRAINT ck_payments_viewing_ref CHECK (viewing_id IS NULL
                OR (purpose = 'viewing_fee' AND viewing_id = reference_id)),
            CONSTRAINT ck_payments_contract_ref CHECK (contract_id IS NULL
                OR (purpose = 'deposit' AND contract_id = reference_id))
        )
        """
    )
    # No double charge: of N concurrent payments for one reference, one inserts.
    op.execute(
        "CREATE UNIQUE INDEX ux_payments_live_reference "
        f"ON payments (purpose, reference_id, installment) WHERE {LIVE}"
    )
    op.execute(
        "CREATE INDEX ix_payments_reference_id_created_at ON payments (reference_id, created_at)"
    )
    op.execute("CREATE INDEX ix_payments_provider_created_at ON payments (provider, created_at)")
    op.execute(
        """
        CREATE TABLE idempotency_keys (
            user_id uuid NOT NULL,
            key text NOT NULL,
            fingerprint bytea NOT NULL,
            status_code integer,
            response jsonb,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            CONSTRAINT pk_idempotency_keys PRIMARY KEY (user_id, key),
            CONSTRAINT fk_idempotency_keys_user_id_users FOREIGN KEY (user_id)
                REFERENCES users (id) ON DELETE CASCADE,
            CONSTRAINT ck_idempotency_keys_key_length CHECK (char_length(key) BETWEEN 1 AND 255)
        )
        """
    )
    op.execute("CREATE INDEX ix_idempotency_keys_expires_at ON idempotency_keys (expires_at)")
    op.execute(
        """
        CREATE TABLE payment_events (
            provider text NOT NULL,
            event_id text NOT NULL,
            kind text NOT NULL,
            raw_type text NOT NULL,
            provider_ref text,
            refund_ref text,
            amount_cents bigint,
            occurred_at timestamptz NOT NULL,
            received_at timestamptz NOT NULL DEFAULT now(),
            applied_at timestamptz,
            payment_id uuid,
            CONSTRAINT pk_payment_events PRIMARY KEY (provider, event_id),
            CONSTRAINT fk_payment_events_payment_id_payments FOREIGN KEY (payment_id)
                REFERENCES payments (id),
            CONSTRAINT ck_payment_events_provider CHECK (provider IN ('stripe', 'paypal'))
        )
        """
    )
    # Events waiting for their payment row (or for its success): looked up per ref.
    op.execute(
        "CREATE INDEX ix_payment_events_pending ON payment_events (provider, provider_ref) "
        "WHERE applied_at IS NULL"
    )
    op.execute(
        """
        CREATE TABLE ledger_entries (
            id bigint GENERATED ALWAYS AS IDENTITY,
            payment_id uuid NOT NULL,
            kind text NOT NULL,
            provider text NOT NULL,
            object_ref text NOT NULL,
            amount_cents bigint NOT NULL,
            currency text NOT NULL DEFAULT 'EUR',
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_ledger_entries PRIMARY KEY (id),
            CONSTRAINT fk_ledger_entries_payment_id_payments FOREIGN KEY (payment_id)
                REFERENCES payments (id),
            CONSTRAINT uq_ledger_entries_object UNIQUE (kind, provider, object_ref),
            CONSTRAINT ck_ledger_entries_signed_by_kind CHECK (
                (kind = 'charge' AND amount_cents > 0) OR (kind = 'refund' AND amount_cents < 0)),
            CONSTRAINT ck_ledger_entries_currency CHECK (currency = 'EUR')
        )
        """
    )
    op.execute("CREATE INDEX ix_ledger_entries_payment_id ON ledger_entries (payment_id)")
    op.execute(
        """
        CREATE TABLE payment_refunds (
            id uuid NOT NULL,
            payment_id uuid NOT NULL,
            amount_cents bigint NOT NULL,
            reason text NOT NULL,
            status text NOT NULL,
            refund_ref text,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_payment_refunds PRIMARY KEY (id),
            CONSTRAINT fk_payment_refunds_payment_id_payments FOREIGN KEY (payment_id)
                REFERENCES payments (id),
            CONSTRAINT uq_payment_refunds_payment_id UNIQUE (payment_id),
            CONSTRAINT uq_payment_refunds_refund_ref UNIQUE (refund_ref),
            CONSTRAINT ck_payment_refunds_status CHECK (status IN ('pending', 'succeeded', 'failed')),
            CONSTRAINT ck_payment_refunds_amount_positive CHECK (amount_cents > 0)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE reconciliation_issues (
            id bigint GENERATED ALWAYS AS IDENTITY,
            provider text NOT NULL,
            provider_ref text NOT NULL,
            payment_id uuid,
            kind text NOT NULL,
            detail text NOT NULL,
            first_seen_at timestamptz NOT NULL DEFAULT now(),
            last_seen_at timestamptz NOT NULL DEFAULT now(),
            resolved_at timestamptz,
            CONSTRAINT pk_reconciliation_issues PRIMARY KEY (id),
            CONSTRAINT ck_reconciliation_issues_provider CHECK (provider IN ('stripe', 'paypal')),
            CONSTRAINT ck_reconciliation_issues_kind CHECK (kind IN ('missing_locally',
                'missing_at_provider', 'status_mismatch', 'amount_mismatch', 'ledger_mismatch'))
        )
        """
    )
    # One open issue per (payment, kind): a run that finds it again only touches it.
    op.execute(
        "CREATE UNIQUE INDEX ux_reconciliation_issues_open "
        "ON reconciliation_issues (provider, provider_ref, kind) WHERE resolved_at IS NULL"
    )


def downgrade() -> None:
    op.execute("DROP TABLE reconciliation_issues")
    op.execute("DROP TABLE payment_refunds")
    op.execute("DROP TABLE ledger_entries")
    op.execute("DROP TABLE payment_events")
    op.execute("DROP TABLE idempotency_keys")
    op.execute("DROP TABLE payments")
