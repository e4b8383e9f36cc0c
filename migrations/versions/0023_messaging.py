"""Messaging: conversations (one per tenant and listing), their members' state, messages.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06

The database keeps the messaging invariants, so no interleaving of requests on any number of
API instances breaks them:
- one conversation per (tenant, listing): a unique constraint; a second create does nothing
  and finds the first;
- a message is stored once per (conversation, author, client_message_id): a unique
  constraint that sends insert against (ON CONFLICT DO NOTHING), so a retried send finds the
  first one;
- messages are numbered 1, 2, 3 ... per conversation without gaps: the number is the
  conversation's `last_seq` + 1, taken under the conversation's row lock, and unique.

Each participant has a member row (read marker, archived, last activity) so a participant's
list is one index range scan, newest activity first.
"""

from __future__ import annotations

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE conversations (
            id uuid NOT NULL,
            listing_id uuid NOT NULL,
            tenant_id uuid NOT NULL,
            landlord_id uuid NOT NULL,
            last_seq bigint NOT NULL DEFAULT 0,
            created_at timestamptz NOT NULL DEFAULT now(),
            last_message_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_conversations PRIMARY KEY (id),
            CONSTRAINT fk_conversations_listing_id_listings FOREIGN KEY (listing_id)
                REFERENCES listings (id) ON DELETE CASCADE,
            CONSTRAINT fk_conversations_tenant_id_users FOREIGN KEY (tenant_id)
                REFERENCES users (id) ON DELETE CASCADE,
            CONSTRAINT fk_conversations_landlord_id_users FOREIGN KEY (landlord_id)
                REFERENCES users (id) ON DELETE CASCADE,
            CONSTRAINT uq_conversations_tenant_id_listing_id UNIQUE (tenant_id, listing_id),
            CONSTRAINT ck_conversations_two_people CHECK (tenant_id <> landlord_id),
            CONSTRAINT ck_conversations_last_seq CHECK (last_seq >= 0)
        );
        -- The cascades of a deleted listing or landlord (the tenant's: the unique constraint).
        CREATE INDEX ix_conversations_listing_id ON conversations (listing_id);
        CREATE INDEX ix_conversations_landlord_id ON conversations (landlord_id);

        CREATE TABLE conversation_members (
            conversation_id uuid NOT NULL,
            user_id uuid NOT NULL,
            read_seq bigint NOT NULL DEFAULT 0,
            archived boolean NOT NULL DEFAULT false,
            last_activity_at timestamptz NOT NULL,
            CONSTRAINT pk_conversation_members PRIMARY KEY (conversation_id, user_id),
            CONSTRAINT fk_conversation_members_conversation_id_conversations
                FOREIGN KEY (conversation_id) REFERENCES conversations (id) ON DELETE CASCADE,
            CONSTRAINT fk_conversation_members_user_id_users FOREIGN KEY (user_id)
                REFERENCES users (id) ON DELETE CASCADE,
            CONSTRAINT ck_conversation_members_read_seq CHECK (read_seq >= 0)
        );
        -- A participant's list: archived or not, newest activity first (keyset on the last two).
        CREATE INDEX ix_conversation_members_user_id_activity ON conversation_members
            (user_id, archived, last_activity_at DESC, conversation_id DESC);

        CREATE TABLE messages (
            id uuid NOT NULL,
            conversation_id uuid NOT NULL,
            seq bigint NOT NULL,
            author_id uuid NOT NULL,
            body text NOT NULL,
            client_message_id text NOT NULL,
            sent_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_messages PRIMARY KEY (id),
            CONSTRAINT fk_messages_conversation_id_conversations FOREIGN KEY (conversation_id)
                REFERENCES conversations (id) ON DELETE CASCADE,
            CONSTRAINT fk_messages_author_id_users FOREIGN KEY (author_id)
                REFERENCES users (id) ON DELETE CASCADE,
            -- The page query (newest first before a seq) and the unread count (by the other
            -- author after a seq) read this index alone.
            CONSTRAINT uq_messages_conversation_id_seq UNIQUE (conversation_id, seq)
                INCLUDE (author_id),
            CONSTRAINT uq_messages_conversation_id_author_id_client_message_id
                UNIQUE (conversation_id, author_id, client_message_id),
            CONSTRAINT ck_messages_seq CHECK (seq > 0),
            CONSTRAINT ck_messages_body_length CHECK (char_length(body) BETWEEN 1 AND 5000),
            CONSTRAINT ck_messages_client_message_id_length
                CHECK (char_length(client_message_id) BETWEEN 1 AND 100)
        );
        CREATE INDEX ix_messages_author_id ON messages (author_id);
        """
    )


def downgrade() -> None:
    op.execute(
        "DROP TABLE IF EXISTS messages; DROP TABLE IF EXISTS conversation_members; "
        "DROP TABLE IF EXISTS conversations;"
    )
