"""Notifications: in-app notifications, pending unread-message emails, a user's language and
notification preferences.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06

- `notifications`: one row per in-app notification, numbered in creation order (`id`, the
  list's cursor). `group_key` names what a notification summarises (a conversation's new
  messages): at most one unread row per (user, group_key), a partial unique index.
- `notification_email_pending`: one row per scheduled delayed email (e.g. a conversation's
  unread messages for one recipient), so a burst of events schedules one job; the job
  removes its row when it runs.
- `users.language` ('de' or 'en', German by default) and `users.notification_preferences`
  (only what the user changed; the defaults are the accounts rules').
"""

from __future__ import annotations

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE notifications (
            id bigserial NOT NULL,
            user_id uuid NOT NULL,
            kind text NOT NULL,
            title text NOT NULL,
            data jsonb NOT NULL DEFAULT '{}'::jsonb,
            group_key text,
            created_at timestamptz NOT NULL DEFAULT now(),
            read_at timestamptz,
            CONSTRAINT pk_notifications PRIMARY KEY (id),
            CONSTRAINT fk_notifications_user_id_users FOREIGN KEY (user_id)
                REFERENCES users (id) ON DELETE CASCADE
        );
        -- A user's list, newest first (keyset on id), and its unread part.
        CREATE INDEX ix_notifications_user_id_id ON notifications (user_id, id DESC);
        CREATE INDEX ix_notifications_user_id_unread ON notifications (user_id, id DESC)
            WHERE read_at IS NULL;
        CREATE UNIQUE INDEX uq_notifications_user_id_group_key_unread
            ON notifications (user_id, group_key)
            WHERE read_at IS NULL AND group_key IS NOT NULL;

        CREATE TABLE notification_email_pending (
            key text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_notification_email_pending PRIMARY KEY (key)
        );

        ALTER TABLE users
            ADD COLUMN language text NOT NULL DEFAULT 'de',
            ADD COLUMN notification_preferences jsonb NOT NULL DEFAULT '{}'::jsonb,
            ADD CONSTRAINT ck_users_language CHECK (language IN ('de', 'en'));
        """
    )


def downgrade() -> None:
    op.execute(
        """
        ALTER TABLE users
            DROP CONSTRAINT ck_users_language,
            DROP COLUMN notification_preferences,
            DROP COLUMN language;
        DROP TABLE notification_email_pending;
        DROP TABLE notifications;
        """
    )
