"""Personal data: a deleted account's time, and the append-only audit of exports and deletions.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06

- `users.deleted_at`: set when the account is anonymised (DELETE /me). The row stays: payments,
  ledger entries and signed contracts the law requires us to keep still point at it.
- `privacy_audit`: one row per export or deletion (who, what, when, from where). Triggers
  refuse UPDATE, DELETE and TRUNCATE, like the contracts' audit trail.
"""

from __future__ import annotations

from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable without a default: a catalogue change only, however big the table.
    op.execute("ALTER TABLE users ADD COLUMN deleted_at timestamptz")
    op.execute(
        """
        CREATE TABLE privacy_audit (
            id bigint GENERATED ALWAYS AS IDENTITY,
            user_id uuid NOT NULL,
            action text NOT NULL,
            at timestamptz NOT NULL DEFAULT clock_timestamp(),
            ip text,
            user_agent text,
            CONSTRAINT pk_privacy_audit PRIMARY KEY (id),
            CONSTRAINT fk_privacy_audit_user_id_users FOREIGN KEY (user_id) REFERENCES users (id),
            CONSTRAINT ck_privacy_audit_action CHECK (action IN ('export', 'delete'))
        );
        CREATE INDEX ix_privacy_audit_user_id_at ON privacy_audit (user_id, at);

        CREATE FUNCTION privacy_audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'restrict_violation';
        END
        $$;
        CREATE TRIGGER privacy_audit_append_only BEFORE UPDATE OR DELETE ON privacy_audit
            FOR EACH ROW EXECUTE FUNCTION privacy_audit_refuse_change();
        CREATE TRIGGER privacy_audit_no_truncate BEFORE TRUNCATE ON privacy_audit
            FOR EACH STATEMENT EXECUTE FUNCTION privacy_audit_refuse_change();
        """
    )


def downgrade() -> None:
    op.execute(
        "DROP TABLE IF EXISTS privacy_audit; DROP FUNCTION IF EXISTS privacy_audit_refuse_change();"
        " ALTER TABLE users DROP COLUMN IF EXISTS deleted_at;"
    )
