"""`sichrplace db report` without a server: how sections print, and a primary that cannot be
reached gives every section its reason instead of failing the report."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from sichrplace.ops.dbmaint import render, service
from sichrplace.ops.dbmaint.records import AutovacuumRow, DuplicateIndexRow, StatementRow
from sichrplace.ops.dbmaint.report import DbReport, ReportOptions, Section

NOW = datetime(2026, 12, 6, 21, 0, tzinfo=UTC)


def test_shorten_size_age() -> None:
    assert render.shorten("SELECT  a,\n\t b FROM t", 100) == "SELECT a, b FROM t"
    assert render.shorten("SELECT " + "x" * 200, 20) == "SELECT " + "x" * 12 + "…"
    assert len(render.shorten("SELECT " + "x" * 200, 20)) == 20
    assert render.size(512) == "512 B"
    assert render.size(3 * 1024 * 1024) == "3.0 MB"
    assert render.size(None) == "-"
    assert render.age(None, NOW) == "never"
    assert render.age(NOW - timedelta(hours=3), NOW) == "3h"
    assert render.age(NOW - timedelta(seconds=20), NOW) == "20s"


def _report() -> DbReport:
    statements = Section(
        "statements_total",
        "Top 15 statements by total time",
        rows=[StatementRow(1, 10, 250.0, 25.0, 10, 62.5, "SELECT *\n  FROM listings")],
        notes=["pg_stat_statements since 2026-12-06"],
    )
    duplicates = Section(
        "duplicate_indexes",
        "Duplicate indexes",
        rows=[DuplicateIndexRow("public", "t", "t_b2", "t_b1", "exact", 8192, "d2", "d1")],
    )
    broken = Section("table_bloat", "Table bloat", error="permission denied for table x")
    empty = Section("unused_indexes", "Unused indexes")
    vacuum = Section(
        "autovacuum",
        "Autovacuum health",
        rows=[
            AutovacuumRow(
                table="messages",
                hot=True,
                n_live_tup=900,
                n_dead_tup=100,
                dead_pct=10.0,
                n_mod_since_analyze=40,
                n_ins_since_vacuum=5,
                vacuum_trigger=150,
                analyze_trigger=250,
                insert_trigger=600,
                last_autovacuum=NOW - timedelta(minutes=5),
                last_vacuum=None,
                last_autoanalyze=None,
                last_analyze=None,
                autovacuum_count=3,
                autoanalyze_count=1,
                reloptions=("autovacuum_vacuum_scale_factor=0.02",),
            )
        ],
    )
    report = DbReport(generated_at=NOW, database="sichrplace", server_version="15.10")
    report.sections = [statements, duplicates, broken, empty, vacuum]
    return report


def test_text_has_a_heading_per_section_and_says_why_one_is_missing() -> None:
    out = render.as_text(_report())
    assert "== Top 15 statements by total time ==" in out
    assert "SELECT * FROM listings" in out
    assert "62.5" in out
    assert "== Duplicate indexes ==" in out
    assert "t_b2" in out
    assert "exact" in out
    assert "== Table bloat ==\n  not available: permission denied for table x" in out
    assert "== Unused indexes ==\n  (none)" in out
    assert "vacuum_scale_factor=0.02" in out
    assert "5m" in out


def test_json_keys_sections_and_keeps_rows_typed() -> None:
    doc = json.loads(render.as_json(_report()))
    assert doc["database"] == "sichrplace"
    assert doc["sections"]["table_bloat"]["error"] == "permission denied for table x"
    row = doc["sections"]["autovacuum"]["rows"][0]
    assert row["table"] == "messages"
    assert row["reloptions"] == ["autovacuum_vacuum_scale_factor=0.02"]
    assert row["last_autovacuum"] == (NOW - timedelta(minutes=5)).isoformat()
    assert doc["sections"]["statements_total"]["rows"][0]["share_pct"] == 62.5


async def test_an_unreachable_primary_fails_no_section_but_says_so_in_each() -> None:
    @asynccontextmanager
    async def refused() -> AsyncIterator[AsyncConnection]:
        raise ConnectionRefusedError("connection refused (port 1)")
        yield  # pragma: no cover

    report = await service.build_report(refused, None, ReportOptions())
    keys = [s.key for s in report.sections]
    assert keys == [
        "statements_total",
        "statements_mean",
        "unused_indexes",
        "duplicate_indexes",
        "table_bloat",
        "index_bloat",
        "replication_slots",
        "autovacuum",
    ]
    for section in report.sections:
        assert section.error is not None
        assert "primary not reachable" in section.error
        assert "connection refused" in section.error
    assert "not available: primary not reachable" in render.as_text(report)
