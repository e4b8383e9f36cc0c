"""Contracts: rental contracts, their frozen PDFs, signatures, the audit trail, deposit parts.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05

The database keeps the evidence honest whatever the application does:
- the audit trail, the frozen documents and the signatures are append-only (triggers refuse
  UPDATE, DELETE and TRUNCATE);
- a sent contract's terms and document hash cannot change, nor can it go back to draft;
- one signature per party (the primary key (contract_id, party)): of two racing signatures
  by one party exactly one inserts.
"""

from __future__ import annotations

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_SHA256 = "~ '^[0-9a-f]{64}$'"


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE contracts (
            id uuid NOT NULL,
            listing_id uuid NOT NULL,
            viewing_id uuid,
            landlord_id uuid NOT NULL,
            tenant_id uuid NOT NULL,
            status text NOT NULL,
            start_date date NOT NULL,
            end_date date,
            cold_rent_cents integer NOT NULL,
            utilities_cents integer NOT NULL,
            deposit_cents integer NOT NULL,
            deposit_plan text NOT NULL,
            deposit_plan_fixed_at timestamptz,
            deposit_status text NOT NULL DEFAULT 'unpaid',
            document_sha256 char(64),
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            sent_at timestamptz,
            fully_signed_at timestamptz,
            CONSTRAINT pk_contracts PRIMARY KEY (id),
            CONSTRAINT fk_contracts_listing_id_listings FOREIGN KEY (listing_id)
                REFERENCES listings (id),
            CONSTRAINT fk_contracts_viewing_id_viewings FOREIGN KEY (viewing_id)
                REFERENCES viewings (id),
            CONSTRAINT fk_contracts_landlord_id_users FOREIGN KEY (landlord_id)
                REFERENCES users (id),
            CONSTRAINT fk_contracts_tenant_id_users FOREIGN KEY (tenant_id)
                REFERENCES users (id),
            CONSTRAINT ck_contracts_status CHECK (status IN
                ('draft', 'sent', 'partially_signed', 'fully_signed')),
            CONSTRAINT ck_contracts_deposit_plan CHECK (deposit_plan IN ('once', 'three_parts')),
            CONSTRAINT ck_contracts_deposit_status CHECK (deposit_status IN
                ('unpaid', 'partially_paid', 'paid', 'refunded')),
            CONSTRAINT ck_contracts_cents_non_negative CHECK
                (cold_rent_cents >= 0 AND utilities_cents >= 0 AND deposit_cents >= 0),
            CONSTRAINT ck_contracts_deposit_cap CHECK (deposit_cents <= 3 * cold_rent_cents),
            CONSTRAINT ck_contracts_dates CHECK (end_date IS NULL OR end_date > start_date),
            CONSTRAINT ck_contracts_two_parties CHECK (landlord_id <> tenant_id),
            CONSTRAINT ck_contracts_document_sha256 CHECK
                (document_sha256 IS NULL OR document_sha256 {_SHA256}),
            CONSTRAINT ck_contracts_sent_has_document CHECK
                (status = 'draft' OR document_sha256 IS NOT NULL)
        )
        """
    )
    for name, columns in (
        ("ix_contracts_landlord_id_created_at", "landlord_id, created_at"),
        ("ix_contracts_tenant_id_created_at", "tenant_id, created_at"),
        ("ix_contracts_viewing_id", "viewing_id"),
        ("ix_contracts_listing_id", "listing_id"),
    ):
        op.execute(f"CREATE INDEX {name} ON contracts ({columns})")
    op.execute(
        f"""
        CREATE TABLE contract_documents (
            contract_id uuid NOT NULL,
            pdf bytea NOT NULL,
            sha256 char(64) NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_contract_documents PRIMARY KEY (contract_id),
            CONSTRAINT fk_contract_documents_contract_id_contracts FOREIGN KEY (contract_id)
                REFERENCES contracts (id),
            CONSTRAINT ck_contract_documents_sha256 CHECK (sha256 {_SHA256})
        )
        """
    )
    op.execute(
        f"""
        CREATE TABLE contract_signatures (
            contract_id uuid NOT NULL,
            party text NOT NULL,
            signer_id uuid NOT NULL,
            full_name text NOT NULL,
            document_sha256 char(64) NOT NULL,
            signed_at timestamptz NOT NULL DEFAULT now(),
            ip text,
            user_agent text,
            CONSTRAINT pk_contract_signatures PRIMARY KEY (contract_id, party),
            CONSTRAINT fk_contract_signatures_contract_id_contracts FOREIGN KEY (contract_id)
                REFERENCES contracts (id),
            CONSTRAINT fk_contract_signatures_signer_id_users FOREIGN KEY (signer_id)
                REFERENCES users (id),
            CONSTRAINT ck_contract_signatures_party CHECK (party IN ('tenant', 'landlord')),
            CONSTRAINT ck_contract_signatures_document_sha256 CHECK (document_sha256 {_SHA256})
        )
        """
    )
    op.execute(
        """
        CREATE TABLE contract_events (
            id bigserial NOT NULL,
            contract_id uuid NOT NULL,
            kind text NOT NULL,
            actor_id uuid,
            ip text,
            user_agent text,
            detail jsonb NOT NULL DEFAULT '{}'::jsonb,
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            CONSTRAINT pk_contract_events PRIMARY KEY (id),
            CONSTRAINT fk_contract_events_contract_id_contracts FOREIGN KEY (contract_id)
                REFERENCES contracts (id),
            CONSTRAINT fk_contract_events_actor_id_users FOREIGN KEY (actor_id)
                REFERENCES users (id),
            CONSTRAINT ck_contract_events_kind CHECK (kind IN ('created', 'sent',
                'document_viewed', 'deposit_plan_chosen', 'signed', 'fully_signed',
                'deposit_payment_started', 'deposit_paid', 'deposit_refunded'))
        )
        """
    )
    op.execute(
        "CREATE INDEX ix_contract_events_contract_id_id ON contract_events (contract_id, id)"
    )
    op.execute(
        """
        CREATE TABLE contract_deposit_installments (
            contract_id uuid NOT NULL,
            installment smallint NOT NULL,
            amount_cents integer NOT NULL,
            payment_id uuid NOT NULL,
            paid_at timestamptz NOT NULL DEFAULT now(),
            refunded_at timestamptz,
            CONSTRAINT pk_contract_deposit_installments PRIMARY KEY (contract_id, installment),
            CONSTRAINT fk_contract_deposit_installments_contract_id_contracts
                FOREIGN KEY (contract_id) REFERENCES contracts (id),
            CONSTRAINT uq_contract_deposit_installments_payment_id UNIQUE (payment_id),
            CONSTRAINT ck_contract_deposit_installments_installment
                CHECK (installment BETWEEN 1 AND 3),
            CONSTRAINT ck_contract_deposit_installments_amount_cents CHECK (amount_cents > 0)
        )
        """
    )
    # Evidence is never rewritten: any UPDATE, DELETE or TRUNCATE raises.
    op.execute(
        """
        CREATE FUNCTION contracts_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'restrict_violation';
        END
        $$
        """
    )
    for table in ("contract_events", "contract_documents", "contract_signatures"):
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION contracts_refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION contracts_refuse_change()"
        )
    # A sent contract is what both parties sign: its terms and hash stay as sent.
    op.execute(
        """
        CREATE FUNCTION contracts_keep_terms() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.status = 'draft'
               OR (NEW.listing_id, NEW.viewing_id, NEW.landlord_id, NEW.tenant_id,
                   NEW.start_date, NEW.end_date, NEW.cold_rent_cents, NEW.utilities_cents,
                   NEW.deposit_cents, NEW.document_sha256, NEW.sent_at)
                  IS DISTINCT FROM
                  (OLD.listing_id, OLD.viewing_id, OLD.landlord_id, OLD.tenant_id,
                   OLD.start_date, OLD.end_date, OLD.cold_rent_cents, OLD.utilities_cents,
                   OLD.deposit_cents, OLD.document_sha256, OLD.sent_at) THEN
                RAISE EXCEPTION 'contract % was sent: its terms are frozen', OLD.id
                    USING ERRCODE = 'restrict_violation';
            END IF;
            RETURN NEW;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER contracts_terms_frozen BEFORE UPDATE ON contracts FOR EACH ROW "
        "WHEN (OLD.status <> 'draft') EXECUTE FUNCTION contracts_keep_terms()"
    )
    op.execute(
        "CREATE TRIGGER contracts_no_delete BEFORE DELETE ON contracts FOR EACH ROW "
        "WHEN (OLD.status <> 'draft') EXECUTE FUNCTION contracts_refuse_change()"
    )


def downgrade() -> None:
    for table in (
        "contract_deposit_installments",
        "contract_events",
        "contract_signatures",
        "contract_documents",
        "contracts",
    ):
        op.execute(f"DROP TABLE IF EXISTS {table}")
    op.execute("DROP FUNCTION IF EXISTS contracts_keep_terms()")
    op.execute("DROP FUNCTION IF EXISTS contracts_refuse_change()")
