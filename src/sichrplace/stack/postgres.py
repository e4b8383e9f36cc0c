"""The application's roles, database and extensions on the leader, and reaching Postgres as
the superuser (Patroni makes and runs the nodes: sichrplace.stack.ha).

The SQL here is built from the stack's own settings (role, database and slot names), run as
the superuser over the private socket; nothing comes from a request.
"""
# ruff: noqa: S608

from __future__ import annotations

import subprocess
import time

from sichrplace.config import Settings
from sichrplace.stack.layout import MONITOR_USER, PG_BIN, REPLICATION_USER, Layout
from sichrplace.stack.render import stack_secrets

# pgstattuple: `sichrplace db report` measures bloat with it (not a trusted extension).
EXTENSIONS = ("citext", "pg_stat_statements", "postgis", "pg_trgm", "btree_gin", "pgstattuple")
LEGACY_SLOT = "sichrplace_replica"


def adopt_old_layout(layout: Layout) -> bool:
    """A data folder from before Patroni (pg/primary and pg/replica, run directly) becomes
    node1 and node2; True when it moved them (they must then start one after the other:
    node1, the old primary, first)."""
    moved = False
    for old, index in (("primary", 1), ("replica", 2)):
        source, target = layout.root / "pg" / old, layout.pg_node(index)
        if (source / "PG_VERSION").exists() and not target.exists():
            source.rename(target)
            moved = True
    return moved


def psql(
    settings: Settings,
    layout: Layout,
    sql: str,
    *,
    port: int | None = None,
    dbname: str = "postgres",
) -> str:
    """Run SQL as the superuser over the stack's private unix socket."""
    args = [
        f"{PG_BIN}/psql",
        "-h",
        str(layout.pg_socket),
        "-p",
        str(port or settings.stack.primary_port),
        "-U",
        "postgres",
        "-d",
        dbname,
        "-v",
        "ON_ERROR_STOP=1",
        "-qAtX",
        "-c",
        sql,
    ]
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"psql failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


def wait_postgres(settings: Settings, layout: Layout, port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc = subprocess.run(
            [f"{PG_BIN}/pg_isready", "-h", str(layout.pg_socket), "-p", str(port), "-q"],
            check=False,
        )
        if proc.returncode == 0:
            return
        time.sleep(0.2)
    raise TimeoutError(f"postgres on port {port} not ready after {timeout:.0f}s")


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def bootstrap_primary(settings: Settings, layout: Layout) -> None:
    """Roles, database and extensions: idempotent, safe to run on every `stack up`."""
    db = settings.db
    secrets = stack_secrets(layout)
    app_pw = _quote(db.password.get_secret_value())
    repl_pw = _quote(secrets["REPLICATION_PASSWORD"])
    monitor_pw = _quote(secrets["MONITOR_PASSWORD"])
    superuser_pw = _quote(secrets["SUPERUSER_PASSWORD"])
    psql(
        settings,
        layout,
        f"""
DO $$BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{db.user}') THEN
    CREATE ROLE "{db.user}" LOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{REPLICATION_USER}') THEN
    CREATE ROLE {REPLICATION_USER} REPLICATION LOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{MONITOR_USER}') THEN
    CREATE ROLE {MONITOR_USER} LOGIN;
  END IF;
END$$;
ALTER ROLE "{db.user}" PASSWORD {app_pw};
ALTER ROLE "{db.user}" SET statement_timeout = '{db.statement_timeout_ms}ms';
ALTER ROLE "{db.user}" SET idle_in_transaction_session_timeout = '60s';
GRANT pg_monitor TO "{db.user}";
ALTER ROLE {REPLICATION_USER} PASSWORD {repl_pw};
ALTER ROLE postgres PASSWORD {superuser_pw};
ALTER ROLE {MONITOR_USER} PASSWORD {monitor_pw};
GRANT pg_monitor TO {MONITOR_USER};
""",
    )
    # The replica's slot from before Patroni (which keeps one per member itself) would hold
    # WAL for nobody.
    psql(
        settings,
        layout,
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
        f" WHERE slot_name = '{LEGACY_SLOT}' AND NOT active",
    )
    exists = psql(settings, layout, f"SELECT 1 FROM pg_database WHERE datname = '{db.name}'")
    if not exists:
        psql(settings, layout, f'CREATE DATABASE "{db.name}" OWNER "{db.user}"')
    ext_sql = "".join(f"CREATE EXTENSION IF NOT EXISTS {ext};" for ext in EXTENSIONS)
    psql(settings, layout, ext_sql + f'GRANT ALL ON SCHEMA public TO "{db.user}";', dbname=db.name)
    psql(settings, layout, partman_sql(db.user), dbname=db.name)


def partman_sql(user: str) -> str:
    """pg_partman (not a trusted extension: the superuser creates it) in schema `partman`,
    and what the application role needs to register partition sets and run maintenance as
    itself (migration 0027, the job analytics.maintain_partitions)."""
    return (
        "CREATE SCHEMA IF NOT EXISTS partman;"
        "CREATE EXTENSION IF NOT EXISTS pg_partman SCHEMA partman;"
        f'GRANT ALL ON SCHEMA partman TO "{user}";'
        f'GRANT ALL ON ALL TABLES IN SCHEMA partman TO "{user}";'
        f'GRANT ALL ON ALL SEQUENCES IN SCHEMA partman TO "{user}";'
        f'GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA partman TO "{user}";'
        f'GRANT EXECUTE ON ALL PROCEDURES IN SCHEMA partman TO "{user}";'
    )
