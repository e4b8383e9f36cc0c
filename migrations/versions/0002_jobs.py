"""Jobs: procrastinate's schema (3.10.0), per-attempt job errors, sent-email dedupe keys.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

The procrastinate schema is read from the installed package and must be exactly the one of
procrastinate 3.10.0 (checked by hash): this migration is frozen at that version. Upgrading
procrastinate means a new migration that applies the package's files in
`procrastinate/sql/migrations/` newer than 3.10.0 (and vendoring the 3.10.0 schema here, if
fresh databases must still be built with the new package installed).
"""

import hashlib

import sqlalchemy as sa
from alembic import op
from procrastinate.schema import SchemaManager

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

PROCRASTINATE_VERSION = "3.10.0"
PROCRASTINATE_SCHEMA_SHA256 = "c70ec4b400a60ad9592787653aae5ae77ae41bf801d56b5bd2712751a07f2009"


def _procrastinate_schema() -> str:
    schema = SchemaManager.get_schema()
    digest = hashlib.sha256(schema.encode()).hexdigest()
    if digest != PROCRASTINATE_SCHEMA_SHA256:
        raise RuntimeError(
            f"migration 0002 creates procrastinate {PROCRASTINATE_VERSION}'s schema, but the "
            f"installed procrastinate ships a different one (sha256 {digest}); install "
            f"procrastinate=={PROCRASTINATE_VERSION} or vendor its schema.sql into this file"
        )
    return schema


def upgrade() -> None:
    op.execute(sa.text(_procrastinate_schema()))

    # One row per failed attempt, so `sichrplace jobs failed` can show the last error
    # (procrastinate itself keeps none). Deleted with their job.
    op.create_table(
        "job_errors",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), nullable=False),
        sa.Column("job_id", sa.BigInteger, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_job_errors"),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["procrastinate_jobs.id"],
            name="fk_job_errors_job_id_procrastinate_jobs",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_job_errors_job_id", "job_errors", ["job_id", "id"])

    # Idempotency of send_email: a key is claimed in the same transaction that sends.
    op.create_table(
        "notification_emails_sent",
        sa.Column("dedupe_key", sa.String(200), nullable=False),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.Column(
            "sent_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("dedupe_key", name="pk_notification_emails_sent"),
    )


def downgrade() -> None:
    op.drop_table("notification_emails_sent")
    op.drop_table("job_errors")
    op.execute(
        "DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers, "
        "procrastinate_jobs, procrastinate_workers CASCADE"
    )
    op.execute(
        sa.text(
            """
            DO $$
            DECLARE fn regprocedure;
            BEGIN
                FOR fn IN
                    SELECT p.oid::regprocedure FROM pg_proc p
                     WHERE p.proname LIKE 'procrastinate\\_%' AND pg_function_is_visible(p.oid)
                LOOP
                    EXECUTE 'DROP FUNCTION ' || fn;
                END LOOP;
            END $$
            """
        )
    )
    op.execute(
        "DROP TYPE IF EXISTS procrastinate_job_to_defer_v1, procrastinate_job_event_type, "
        "procrastinate_job_status"
    )
