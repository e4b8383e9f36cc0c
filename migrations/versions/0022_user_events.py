"""The per-user event stream (`platform.events`): what `GET /api/v1/events` carries.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06

Events are numbered per user (`seq`) under the user's counter row: writers for one user take
turns, so a user's events commit in number order and a stream that has sent n can replay
"after n" without missing one that committed late. Counters are never deleted with the
events (numbers never repeat for a user).
"""

from __future__ import annotations

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE user_event_counters (
            user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
            last_seq bigint NOT NULL CHECK (last_seq > 0)
        );
        CREATE TABLE user_events (
            user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            seq bigint NOT NULL,
            kind text NOT NULL CHECK (char_length(kind) BETWEEN 1 AND 100),
            data jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (user_id, seq)
        );
        CREATE INDEX ix_user_events_created_at ON user_events (created_at);
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS user_events; DROP TABLE IF EXISTS user_event_counters;")
