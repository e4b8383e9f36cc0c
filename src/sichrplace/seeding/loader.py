"""Bulk loading with COPY on the primary itself (no PgBouncer): owners and listings.

1,000,000 listings in well under five minutes on two cores: two processes each generate
rows and stream them with `COPY ... FROM STDIN` (text format, pre-formatted lines), the
secondary indexes are dropped first and rebuilt afterwards (one sorted build per index beats
a million random inserts into each), then ANALYZE.
"""

from __future__ import annotations

import itertools
import os
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg
from psycopg import sql

from sichrplace.accounts.security import Passwords
from sichrplace.config import Settings
from sichrplace.seeding.listings import SEED_COLUMNS, SEED_PG_TYPES, generate_listings

SEED_OWNER_DOMAIN = "seed.sichrplace.invalid"
# Rows per COPY transaction: big enough to amortise, small enough to report progress.
BATCH_ROWS = 50_000
# Below this many new rows the indexes are kept: dropping them would hurt concurrent readers
# more than the per-row index maintenance costs.
DROP_INDEXES_ABOVE = 100_000

Progress = Callable[[str], None]


def _noop(_: str) -> None:
    return None


@dataclass
class LoadReport:
    listings: int = 0
    owners_created: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    def timed(self, name: str, started: float) -> None:
        self.timings[name] = round(time.perf_counter() - started, 2)


def _table(schema: str | None, name: str) -> sql.Composable:
    return sql.Identifier(schema, name) if schema else sql.Identifier(name)


def unusable_password_hash(settings: Settings) -> str:
    """A real argon2 hash of a secret nobody keeps: seed landlords exist but cannot log in."""
    return Passwords(settings.auth).hasher.hash(secrets.token_urlsafe(32))


def seed_owner_ids(conn: psycopg.Connection, schema: str | None = None) -> list[uuid.UUID]:
    rows = conn.execute(
        sql.SQL("SELECT id FROM {} WHERE email LIKE %s ORDER BY email").format(
            _table(schema, "users")
        ),
        [f"%@{SEED_OWNER_DOMAIN}"],
    ).fetchall()
    return [r[0] for r in rows]


def ensure_owners(
    conn: psycopg.Connection, count: int, password_hash: str, schema: str | None = None
) -> tuple[list[uuid.UUID], int]:
    """At least `count` seed landlords exist (COPY for the missing ones); returns all of them."""
    existing = seed_owner_ids(conn, schema)
    missing = count - len(existing)
    if missing > 0:
        now = datetime.now(UTC)
        columns = ("id", "email", "password_hash", "full_name", "role", "email_verified_at")
        stmt = sql.SQL("COPY {} ({}) FROM STDIN").format(
            _table(schema, "users"), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        tag = secrets.token_hex(4)
        with conn.cursor() as cur, cur.copy(stmt) as copy:
            for i in range(missing):
                email = f"landlord-{len(existing) + i:05d}-{tag}@{SEED_OWNER_DOMAIN}"
                name = f"Vermieter {len(existing) + i + 1}"
                copy.write_row((uuid.uuid4(), email, password_hash, name, "landlord", now))
        conn.commit()
        existing = seed_owner_ids(conn, schema)
    return existing, max(missing, 0)


def secondary_indexes(conn: psycopg.Connection, schema: str | None = None) -> dict[str, str]:
    """name -> CREATE INDEX statement of every index on listings not backing a constraint."""
    rows = conn.execute(
        "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
        "JOIN pg_namespace n ON n.oid = t.relnamespace "
        "WHERE t.relname = 'listings' AND n.nspname = %s "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)",
        [schema or "public"],
    ).fetchall()
    return dict(rows)


def _copy_worker(
    dsn: str, owners: list[str], count: int, seed: int, schema: str | None, now: datetime
) -> int:
    rows = generate_listings(count, owner_ids=[uuid.UUID(o) for o in owners], seed=seed, now=now)
    stmt = sql.SQL("COPY {} ({}) FROM STDIN").format(
        _table(schema, "listings"), sql.SQL(", ").join(map(sql.Identifier, SEED_COLUMNS))
    )
    done = 0
    with psycopg.connect(dsn) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET statement_timeout = 0")
        while done < count:
            batch = min(BATCH_ROWS, count - done)
            with conn.cursor() as cur, cur.copy(stmt) as copy:
                copy.set_types(list(SEED_PG_TYPES))
                for row in itertools.islice(rows, batch):
                    copy.write_row(row)
            conn.commit()
            done += batch
    return done


def copy_listings(
    dsn: str,
    owners: Sequence[uuid.UUID],
    count: int,
    *,
    workers: int = 2,
    seed: int | None = None,
    schema: str | None = None,
) -> int:
    """COPY `count` generated listings using `workers` processes; returns rows written."""
    if count <= 0:
        return 0
    base_seed = seed if seed is not None else int.from_bytes(os.urandom(4), "big")
    owner_strs = [str(o) for o in owners]
    now = datetime.now(UTC)
    workers = max(1, min(workers, count // 10_000 + 1))
    shares = [count // workers + (1 if i < count % workers else 0) for i in range(workers)]
    if workers == 1:
        return _copy_worker(dsn, owner_strs, count, base_seed, schema, now)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [
            pool.submit(_copy_worker, dsn, owner_strs, share, base_seed + i * 7919, schema, now)
            for i, share in enumerate(shares)
        ]
        return sum(f.result() for f in futures)


def _create_index(dsn: str, statement: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET statement_timeout = 0")
        conn.execute("SET maintenance_work_mem = '768MB'")
        conn.execute("SET max_parallel_maintenance_workers = 0")
        conn.execute(statement)


def create_indexes(dsn: str, statements: Sequence[str], *, workers: int = 2) -> None:
    """Build indexes `workers` at a time (each build is single-threaded and CPU-bound)."""
    if not statements:
        return
    # Longest first, so the two lanes finish together.
    ordered = sorted(statements, key=_index_cost, reverse=True)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(_create_index, dsn, s) for s in ordered]:
            future.result()


def _index_cost(statement: str) -> int:
    lowered = statement.lower()
    if "gist" in lowered:
        return 3
    if "gin" in lowered:
        return 2
    return 1


def load(
    dsn: str,
    *,
    count: int,
    owners: int,
    password_hash: str,
    workers: int = 2,
    seed: int | None = None,
    schema: str | None = None,
    progress: Progress = _noop,
) -> LoadReport:
    """Owners, then listings (indexes dropped around a big COPY), then VACUUM (ANALYZE) of
    listings and ANALYZE of users if owners were added."""
    report = LoadReport()
    with psycopg.connect(dsn) as conn:
        t = time.perf_counter()
        owner_ids, report.owners_created = ensure_owners(conn, owners, password_hash, schema)
        report.timed("owners", t)
        indexes = secondary_indexes(conn, schema) if count >= DROP_INDEXES_ABOVE else {}
        if indexes:
            progress(f"dropping {len(indexes)} secondary indexes for the bulk load")
            for name in indexes:
                conn.execute(
                    sql.SQL("DROP INDEX IF EXISTS {}").format(
                        sql.Identifier(schema, name) if schema else sql.Identifier(name)
                    )
                )
            conn.commit()
    try:
        t = time.perf_counter()
        progress(f"copying {count} listings with {workers} workers")
        report.listings = copy_listings(
            dsn, owner_ids, count, workers=workers, seed=seed, schema=schema
        )
        report.timed("copy", t)
    finally:
        if indexes:
            t = time.perf_counter()
            progress(f"rebuilding {len(indexes)} indexes")
            create_indexes(dsn, list(indexes.values()), workers=workers)
            report.timed("indexes", t)
    t = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET statement_timeout = 0")
        # VACUUM sets the visibility map (index-only scans) and hint bits once, instead of
        # every first reader dirtying pages; ANALYZE gives the planner the new distribution.
        conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(_table(schema, "listings")))
        if report.owners_created:
            # The landlords came by COPY too; a load below autovacuum's analyze trigger (10 %
            # of the table) would otherwise leave the planner the old numbers.
            conn.execute(sql.SQL("ANALYZE {}").format(_table(schema, "users")))
    report.timed("vacuum_analyze", t)
    return report
