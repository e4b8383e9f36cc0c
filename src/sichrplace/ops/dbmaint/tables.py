"""Which tables maintenance cares about by name.

HOT_TABLES: the tables whose churn was measured (docs/operations.md, "Maintenance:
autovacuum, analyze, reports"); migration 0026 gave those that need them their own
autovacuum, analyze and fillfactor settings (listings has had its own since 0011). The
report's autovacuum section lists them always, any other table only when autovacuum is
behind on it.

BULK_LOADED_TABLES: what `sichrplace seed` writes with COPY or rewrites in bulk (seeding/):
the nightly ANALYZE covers them, with every partitioned table (autovacuum never analyses a
partitioned table's parent).
"""

from __future__ import annotations

HOT_TABLES: tuple[str, ...] = (
    "listings",
    "viewing_slots",
    "viewings",
    "payments",
    "payment_events",
    "ledger_entries",
    "idempotency_keys",
    "conversations",
    "conversation_members",
    "messages",
    "notifications",
    "notification_email_pending",
    "notification_emails_sent",
    "user_events",
    "user_event_counters",
    "refresh_tokens",
    "refresh_token_families",
    "procrastinate_jobs",
    "procrastinate_events",
    "procrastinate_periodic_defers",
    "procrastinate_workers",
    "listing_view_flushes",
    "search_places",
)

BULK_LOADED_TABLES: tuple[str, ...] = ("listings", "users", "search_places")
