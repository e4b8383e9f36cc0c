"""Autovacuum, analyze and fillfactor per hot table, from their measured churn.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06

The measurement (pg_stat_user_tables before and after `bench booking` and `bench messaging`,
per 1,000 requests) and the reasoning per table: docs/operations.md, "Maintenance:
autovacuum, analyze, reports". In short, the defaults (vacuum after 20 % of a table is dead,
after 20 % more rows were inserted, analyze after 10 % changed) let dead rows and stale
visibility maps grow with the table; the tables below churn in proportion to traffic, not to
their size, so they get thresholds that keep the work between two runs roughly constant:

- queues and expiring rows (procrastinate_jobs, idempotency_keys, procrastinate_events):
  every row is updated and deleted again, and the queue's partial indexes collect the dead
  versions: vacuum after 1-2 % (plus a fixed floor, so a small table is not vacuumed per
  minute for nothing);
- rows updated outside HOT on every message (conversation_members: its activity is indexed;
  notifications: the group upsert renews the id): vacuum after 2 %;
- append-only logs (messages, user_events, ledger_entries): vacuum for inserts after 1-5 %,
  so the newest pages become all-visible (index-only page and unread queries) and are frozen
  in small steps; user_events also after 2 % dead, so the nightly prune's space is reused;
- rows updated in place on every message (conversations, user_event_counters, 95-97 % HOT
  measured) and idempotency keys (77 % HOT): fillfactor 90 keeps room on the page for the
  new version (it applies to pages written from now on);
- the booking records (payments, payment_events, viewings): one update per insert, vacuum and
  analyze after 5 %, so recent rows' statistics (created_at ranges) stay current.

listings keeps migration 0011's 2 %. `ALTER TABLE ... SET` of these parameters takes a SHARE
UPDATE EXCLUSIVE lock only: reads and writes go on.
"""

from __future__ import annotations

from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

SETTINGS: dict[str, dict[str, float | int]] = {
    "procrastinate_jobs": {
        "autovacuum_vacuum_scale_factor": 0.01,
        "autovacuum_vacuum_threshold": 1000,
        "autovacuum_analyze_scale_factor": 0.05,
    },
    "procrastinate_events": {
        "autovacuum_vacuum_scale_factor": 0.02,
        "autovacuum_vacuum_insert_scale_factor": 0.05,
    },
    "idempotency_keys": {
        "fillfactor": 90,
        "autovacuum_vacuum_scale_factor": 0.02,
        "autovacuum_vacuum_threshold": 1000,
        "autovacuum_analyze_scale_factor": 0.05,
    },
    "conversation_members": {
        "autovacuum_vacuum_scale_factor": 0.02,
        "autovacuum_vacuum_threshold": 500,
        "autovacuum_analyze_scale_factor": 0.05,
    },
    "notifications": {
        "autovacuum_vacuum_scale_factor": 0.02,
        "autovacuum_vacuum_threshold": 1000,
        "autovacuum_analyze_scale_factor": 0.05,
    },
    "conversations": {"fillfactor": 90},
    "user_event_counters": {"fillfactor": 90},
    "messages": {
        "autovacuum_vacuum_insert_threshold": 20000,
        "autovacuum_vacuum_insert_scale_factor": 0.01,
    },
    "user_events": {
        "autovacuum_vacuum_scale_factor": 0.02,
        "autovacuum_vacuum_insert_scale_factor": 0.02,
    },
    "ledger_entries": {
        "autovacuum_vacuum_insert_scale_factor": 0.05,
        "autovacuum_analyze_scale_factor": 0.05,
    },
    "payments": {
        "autovacuum_vacuum_scale_factor": 0.05,
        "autovacuum_analyze_scale_factor": 0.05,
    },
    "payment_events": {
        "autovacuum_vacuum_scale_factor": 0.05,
        "autovacuum_analyze_scale_factor": 0.05,
    },
    "viewings": {
        "autovacuum_vacuum_scale_factor": 0.05,
        "autovacuum_analyze_scale_factor": 0.05,
    },
}


def upgrade() -> None:
    for table, options in SETTINGS.items():
        values = ", ".join(f"{name} = {value}" for name, value in options.items())
        op.execute(f"ALTER TABLE {table} SET ({values})")


def downgrade() -> None:
    for table, options in SETTINGS.items():
        op.execute(f"ALTER TABLE {table} RESET ({', '.join(options)})")
