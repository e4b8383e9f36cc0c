"""Database maintenance on the running stack: `sichrplace db report` prints every section, finds
an unused index and duplicate ones in a table of the test's own, lists the replica's slot;
migration 0026's autovacuum settings are in place; the nightly ANALYZE job analyses."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from sichrplace.cli.main import app as cli
from sichrplace.config import PROJECT_ROOT, Settings
from sichrplace.ops.dbmaint import tasks
from sichrplace.ops.dbmaint.tables import BULK_LOADED_TABLES, HOT_TABLES
from sichrplace.platform.db.engines import Database
from sichrplace.platform.jobs.runtime import use_job_parts
from sichrplace.platform.parts import Parts

HEADINGS = (
    "== Top 15 statements by total time ==",
    "== Top 15 statements by mean time (called at least 5 times) ==",
    "== Unused indexes",
    "== Duplicate indexes",
    "== Table bloat ==",
    "== Index bloat (btree) ==",
    "== Replication slots and the WAL they retain ==",
    "== Autovacuum health ==",
)
LISTINGS_0011 = (
    "autovacuum_vacuum_scale_factor",
    "autovacuum_vacuum_insert_scale_factor",
    "autovacuum_analyze_scale_factor",
)
SECTIONS = (
    "statements_total",
    "statements_mean",
    "unused_indexes",
    "duplicate_indexes",
    "table_bloat",
    "index_bloat",
    "replication_slots",
    "autovacuum",
)


def _migration() -> Any:
    path = PROJECT_ROOT / "migrations" / "versions" / "0026_autovacuum.py"
    spec = importlib.util.spec_from_file_location("migration_0026", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
async def probe_table(settings: Settings, unique: str) -> AsyncIterator[str]:
    """A table of this test's own: one index nothing scans, an exact duplicate pair and an
    index whose column leads another's."""
    name = f"dbmaint_probe_{unique}"
    async with await psycopg.AsyncConnection.connect(
        settings.db.direct_dsn, autocommit=True
    ) as conn:
        await conn.execute(
            f"CREATE TABLE {name} (id int PRIMARY KEY, a int, b int);"
            f"CREATE INDEX {name}_a ON {name} (a);"
            f"CREATE INDEX {name}_ab ON {name} (a, b);"
            f"CREATE INDEX {name}_b1 ON {name} (b);"
            f"CREATE INDEX {name}_b2 ON {name} (b);"
        )
        try:
            yield name
        finally:
            await conn.execute(f"DROP TABLE IF EXISTS {name}")


async def _run(*args: str) -> str:
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["db", "report", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


async def test_report_prints_every_section(settings: Settings, probe_table: str) -> None:
    out = await _run()
    for heading in HEADINGS:
        assert heading in out, heading
    assert "not available" not in out, out
    unused = out.split("== Unused indexes")[1].split("\n== ")[0]
    assert f"{probe_table}_a " in unused
    duplicates = out.split("== Duplicate indexes")[1].split("\n== ")[0]
    assert f"{probe_table}_b2 " in duplicates


async def test_report_json_finds_unused_and_duplicate_indexes_and_the_replica_slot(
    settings: Settings, probe_table: str
) -> None:
    doc = json.loads(await _run("--json", "--bloat", "estimate", "--top", "1000"))
    sections = doc["sections"]
    assert set(SECTIONS) <= set(sections)
    assert all(sections[key]["error"] is None for key in SECTIONS), sections
    assert doc["database"] == settings.db.name

    unused = {r["index"] for r in sections["unused_indexes"]["rows"] if r["table"] == probe_table}
    # The primary key is never "unused"; every other index of the new table is.
    assert unused == {f"{probe_table}_{s}" for s in ("a", "ab", "b1", "b2")}

    duplicates = {
        (r["index"], r["kind"], r["covered_by"])
        for r in sections["duplicate_indexes"]["rows"]
        if r["table"] == probe_table
    }
    assert duplicates == {
        (f"{probe_table}_b2", "exact", f"{probe_table}_b1"),
        (f"{probe_table}_a", "prefix", f"{probe_table}_ab"),
    }

    assert any("statistical estimate" in n for n in sections["table_bloat"]["notes"])
    assert sections["statements_total"]["rows"], "pg_stat_statements has statements"
    assert sections["statements_total"]["rows"][0]["share_pct"] > 0

    async with await psycopg.AsyncConnection.connect(settings.db.direct_dsn) as conn:
        cur = await conn.execute("SELECT slot_name FROM pg_replication_slots")
        slots = {name for (name,) in await cur.fetchall()}
    reported = {r["slot_name"]: r for r in sections["replication_slots"]["rows"]}
    assert set(reported) == slots
    replica = [r for r in reported.values() if r["slot_type"] == "physical" and r["active"]]
    assert replica, "the stack's streaming replica holds an active physical slot"
    assert all(r["retained_bytes"] is not None and r["retained_bytes"] >= 0 for r in replica)

    hot = {r["table"] for r in sections["autovacuum"]["rows"] if r["hot"]}
    assert hot == set(HOT_TABLES)


async def test_migration_0026_settings_are_in_reloptions(db: Database) -> None:
    settings_by_table: dict[str, dict[str, Any]] = dict(_migration().SETTINGS)
    # The report's hot tables are the measured ones: 0026 set what they need, listings had
    # its own since 0011.
    assert set(settings_by_table) <= set(HOT_TABLES)
    settings_by_table["listings"] = dict.fromkeys(LISTINGS_0011, 0.02)
    async with db.primary.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT c.relname, c.reloptions FROM pg_class c "
                "WHERE c.relname = ANY(:names) AND c.relkind = 'r' "
                "AND c.relnamespace = 'public'::regnamespace"
            ),
            {"names": list(settings_by_table)},
        )
        found = {name: dict(o.split("=", 1) for o in opts or ()) for name, opts in rows}
    for table, options in settings_by_table.items():
        assert table in found, table
        for key, value in options.items():
            assert key in found[table], (table, key)
            assert float(found[table][key]) == float(value), (table, key)


async def _last_analyze(db: Database, names: list[str]) -> dict[str, datetime | None]:
    # A new transaction each time: statistics are read once per transaction.
    async with db.primary.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT relname, last_analyze FROM pg_stat_user_tables "
                "WHERE relname = ANY(:names) AND schemaname = 'public'"
            ),
            {"names": names},
        )
        return {str(name): at for name, at in rows}


async def test_the_nightly_analyze_job_analyses_bulk_loaded_and_partitioned_tables(
    settings: Settings, db: Database, parts: Parts, unique: str
) -> None:
    parent = f"dbmaint_parted_{unique}"
    async with await psycopg.AsyncConnection.connect(
        settings.db.direct_dsn, autocommit=True
    ) as conn:
        await conn.execute(
            f"CREATE TABLE {parent} (at date NOT NULL, n int) PARTITION BY RANGE (at);"
            f"CREATE TABLE {parent}_p PARTITION OF {parent} "
            "FOR VALUES FROM (MINVALUE) TO (MAXVALUE);"
        )
        fill = f"INSERT INTO {parent} SELECT current_date, g FROM generate_series(1, 100) g"  # noqa: S608
        await conn.execute(fill)
        try:
            names = [*BULK_LOADED_TABLES, parent]
            before = await _last_analyze(db, names)
            with use_job_parts(parts):
                analysed = await tasks.analyze_bulk_loaded(timestamp=0)
            after = await _last_analyze(db, names)
        finally:
            await conn.execute(f"DROP TABLE IF EXISTS {parent}")
    assert analysed >= len(names)
    for name in names:
        assert after.get(name) is not None, name
        assert before.get(name) is None or after[name] > before[name], name  # type: ignore[operator]
