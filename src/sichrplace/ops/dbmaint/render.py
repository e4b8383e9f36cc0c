"""The report as text (a heading per section, aligned columns) or as one JSON document."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sichrplace.ops.dbmaint.records import (
    AutovacuumRow,
    BloatRow,
    DuplicateIndexRow,
    SlotRow,
    StatementRow,
    UnusedIndexRow,
)
from sichrplace.ops.dbmaint.report import DbReport

_SPACE = re.compile(r"\s+")


def shorten(query: str, width: int) -> str:
    """A statement on one line, cut to `width` characters."""
    flat = _SPACE.sub(" ", query).strip()
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def size(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def age(moment: datetime | None, now: datetime) -> str:
    """How long ago, coarsely (an operator reads "3h", not a timestamp)."""
    if moment is None:
        return "never"
    seconds = max((now - moment).total_seconds(), 0)
    for unit, length in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= length:
            return f"{seconds / length:.0f}{unit}"
    return f"{seconds:.0f}s"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    """Columns padded to their widest cell; the last column is never padded."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        out = []
        for i, cell in enumerate(cells):
            last = i == len(cells) - 1
            out.append(
                cell.rjust(widths[i]) if i in right else cell if last else cell.ljust(widths[i])
            )
        return "  " + "  ".join(out).rstrip()

    return [line(headers), *(line(r) for r in rows)]


def _statements(rows: list[StatementRow], width: int, now: datetime) -> list[str]:
    cells = [
        [
            f"{r.calls:,}",
            f"{r.total_ms:,.0f}",
            f"{r.mean_ms:,.2f}",
            f"{r.rows:,}",
            f"{r.share_pct:.1f}",
            shorten(r.query, width),
        ]
        for r in rows
    ]
    headers = ["calls", "total ms", "mean ms", "rows", "share %", "query"]
    return table(headers, cells, {0, 1, 2, 3, 4})


def _unused(rows: list[UnusedIndexRow], width: int, now: datetime) -> list[str]:
    cells = [[r.index, r.table, size(r.size_bytes), str(r.partitions or "")] for r in rows]
    return table(["index", "table", "size", "partitions"], cells, {2, 3})


def _duplicates(rows: list[DuplicateIndexRow], width: int, now: datetime) -> list[str]:
    cells = [[r.index, r.table, r.kind, r.covered_by, size(r.size_bytes)] for r in rows]
    return table(["index", "table", "kind", "covered by", "size"], cells, {4})


def _bloat(rows: list[BloatRow], width: int, now: datetime) -> list[str]:
    cells = [
        [
            r.index or r.table,
            r.table if r.index else "",
            size(r.size_bytes),
            size(r.wasted_bytes),
            f"{r.wasted_pct:.1f}" + ("?" if r.unreliable else ""),
            "-" if r.dead_pct is None else f"{r.dead_pct:.1f}",
        ]
        for r in rows
    ]
    headers = ["relation", "table", "size", "wasted", "wasted %", "dead %"]
    return table(headers, cells, {2, 3, 4, 5})


def _slots(rows: list[SlotRow], width: int, now: datetime) -> list[str]:
    cells = [
        [
            r.slot_name,
            r.slot_type,
            "yes" if r.active else "NO",
            r.wal_status or "-",
            size(r.retained_bytes),
            size(r.replay_lag_bytes),
            r.client or "-",
        ]
        for r in rows
    ]
    headers = ["slot", "type", "active", "wal", "retained WAL", "replay lag", "client"]
    return table(headers, cells, {4, 5})


def _autovacuum(rows: list[AutovacuumRow], width: int, now: datetime) -> list[str]:
    cells = [
        [
            r.table + ("" if r.hot else " (behind)"),
            f"{r.n_live_tup:,}",
            f"{r.n_dead_tup:,}",
            f"{r.dead_pct:.1f}",
            f"{r.vacuum_trigger:,}",
            f"{r.n_ins_since_vacuum:,}/{r.insert_trigger:,}" if r.insert_trigger else "-",
            f"{r.n_mod_since_analyze:,}/{r.analyze_trigger:,}",
            age(r.last_autovacuum, now),
            age(r.last_autoanalyze, now),
            ",".join(o.removeprefix("autovacuum_") for o in r.reloptions) or "-",
        ]
        for r in rows
    ]
    headers = [
        "table",
        "live",
        "dead",
        "dead %",
        "vacuum at",
        "inserted/vacuum at",
        "changed/analyze at",
        "autovacuum",
        "autoanalyze",
        "settings",
    ]
    return table(headers, cells, {1, 2, 3, 4, 5, 6, 7, 8})


Renderer = Callable[[list[Any], int, datetime], list[str]]
_RENDERERS: dict[str, Renderer] = {
    "statements_total": _statements,
    "statements_mean": _statements,
    "unused_indexes": _unused,
    "duplicate_indexes": _duplicates,
    "table_bloat": _bloat,
    "index_bloat": _bloat,
    "replication_slots": _slots,
    "autovacuum": _autovacuum,
}


def _moment(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S %Z}" if value is not None else "never"


def as_text(report: DbReport, *, width: int = 100) -> str:
    now = report.generated_at
    lines = [
        f"Database report: {report.database or '?'} on PostgreSQL {report.server_version or '?'}"
        f", {now:%Y-%m-%d %H:%M:%S} UTC",
        f"statistics reset: {_moment(report.stats_reset)}; "
        f"server started: {_moment(report.server_started_at)}",
    ]
    for section in report.sections:
        lines += ["", f"== {section.title} =="]
        if section.error is not None:
            lines.append(f"  not available: {section.error}")
            continue
        lines += [f"  ({note})" for note in section.notes]
        if not section.rows:
            lines.append("  (none)")
            continue
        lines += _RENDERERS[section.key](section.rows, width, now)
    return "\n".join(lines)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def as_json(report: DbReport) -> str:
    """One JSON object: the server's facts and `sections` keyed by section (rows, notes,
    error: null when it was read)."""
    doc = {
        "generated_at": _plain(report.generated_at),
        "database": report.database,
        "server_version": report.server_version,
        "stats_reset": _plain(report.stats_reset),
        "server_started_at": _plain(report.server_started_at),
        "sections": {
            s.key: {"title": s.title, "rows": _plain(s.rows), "notes": s.notes, "error": s.error}
            for s in report.sections
        },
    }
    return json.dumps(doc, indent=2, ensure_ascii=False)
