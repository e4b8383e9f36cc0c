"""Viewings: a listing's viewing slots, bookings of them, and per-user calendar feeds.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05

The database itself keeps the two booking invariants, so no interleaving of requests on any
number of API instances can break them:
- a listing's (not deleted) slots never overlap: an exclusion constraint over
  `tstzrange(starts_at, ends_at)` (half-open, so back-to-back slots are fine), which needs
  btree_gist for the `listing_id WITH =` part;
- a slot has at most one live booking: a partial unique index on `viewings.slot_id` over the
  live states. Expired and cancelled bookings stay as history and free the slot.
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.execute(
        """
        CREATE TABLE viewing_slots (
            id uuid NOT NULL,
            listing_id uuid NOT NULL,
            starts_at timestamptz NOT NULL,
            ends_at timestamptz NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            -- Soft delete: past bookings keep pointing at their slot.
            deleted_at timestamptz,
            CONSTRAINT pk_viewing_slots PRIMARY KEY (id),
            CONSTRAINT fk_viewing_slots_listing_id_listings FOREIGN KEY (listing_id)
                REFERENCES listings (id) ON DELETE CASCADE,
            CONSTRAINT ck_viewing_slots_ordered CHECK (ends_at > starts_at),
            CONSTRAINT ex_viewing_slots_no_overlap EXCLUDE USING gist
                (listing_id WITH =, tstzrange(starts_at, ends_at) WITH &&)
                WHERE (deleted_at IS NULL)
        )
        """
    )
    op.execute(
        "CREATE INDEX ix_viewing_slots_listing_id_starts_at "
        "ON viewing_slots (listing_id, starts_at) WHERE deleted_at IS NULL"
    )
    op.execute(
        """
        CREATE TABLE viewings (
            id uuid NOT NULL,
            slot_id uuid NOT NULL,
            listing_id uuid NOT NULL,
            tenant_id uuid NOT NULL,
            landlord_id uuid NOT NULL,
            status text NOT NULL,
            message text,
            sequence integer NOT NULL DEFAULT 0,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            confirmed_at timestamptz,
            cancelled_at timestamptz,
            cancelled_by uuid,
            completed_at timestamptz,
            expired_at timestamptz,
            refunded_at timestamptz,
            CONSTRAINT pk_viewings PRIMARY KEY (id),
            CONSTRAINT fk_viewings_slot_id_viewing_slots FOREIGN KEY (slot_id)
                REFERENCES viewing_slots (id) ON DELETE CASCADE,
            CONSTRAINT fk_viewings_listing_id_listings FOREIGN KEY (listing_id)
                REFERENCES listings (id) ON DELETE CASCADE,
            CONSTRAINT fk_viewings_tenant_id_users FOREIGN KEY (tenant_id)
                REFERENCES users (id) ON DELETE CASCADE,
            CONSTRAINT fk_viewings_landlord_id_users FOREIGN KEY (landlord_id)
                REFERENCES users (id) ON DELETE CASCADE,
            CONSTRAINT fk_viewings_cancelled_by_users FOREIGN KEY (cancelled_by)
                REFERENCES users (id) ON DELETE SET NULL,
            CONSTRAINT ck_viewings_status CHECK (status IN
                ('pending_payment', 'confirmed', 'completed', 'cancelled', 'expired')),
            CONSTRAINT ck_viewings_sequence CHECK (sequence >= 0),
            CONSTRAINT ck_viewings_message_length CHECK (char_length(message) <= 2000)
        )
        """
    )
    # At most one live booking per slot: of N concurrent bookings exactly one inserts.
    op.execute(
        "CREATE UNIQUE INDEX ux_viewings_live_slot ON viewings (slot_id) "
        "WHERE status IN ('pending_payment', 'confirmed', 'completed')"
    )
    op.execute(
        "CREATE INDEX ix_viewings_tenant_id_created_at ON viewings (tenant_id, created_at, id)"
    )
    op.execute(
        "CREATE INDEX ix_viewings_landlord_id_created_at ON viewings (landlord_id, created_at, id)"
    )
    # The expiry job's scan: only the (few) unpaid bookings.
    op.execute(
        "CREATE INDEX ix_viewings_pending_expires_at ON viewings (expires_at) "
        "WHERE status = 'pending_payment'"
    )
    op.execute("CREATE INDEX ix_viewings_slot_id ON viewings (slot_id)")
    op.execute(
        """
        CREATE TABLE calendar_feeds (
            user_id uuid NOT NULL,
            token_sha256 bytea NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            revoked_at timestamptz,
            CONSTRAINT pk_calendar_feeds PRIMARY KEY (user_id),
            CONSTRAINT fk_calendar_feeds_user_id_users FOREIGN KEY (user_id)
                REFERENCES users (id) ON DELETE CASCADE,
            CONSTRAINT uq_calendar_feeds_token_sha256 UNIQUE (token_sha256)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE calendar_feeds")
    op.execute("DROP TABLE viewings")
    op.execute("DROP TABLE viewing_slots")
    # btree_gist stays: other objects may use it, and it costs nothing.
