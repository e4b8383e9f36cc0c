"""The plan gate without a database: what a plan's fingerprint holds, the rules that judge it
against the baseline, the report and the baseline file, and that every hot statement renders
from the application's code as the driver would send it."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sichrplace.bench.plangate.fingerprint import Baseline, Fingerprint, Outcome, fingerprint
from sichrplace.bench.plangate.statements import HOT_STATEMENTS, Anchors
from sichrplace.bench.plangate.verdict import FACTOR, changes, compare, judge, report
from sichrplace.viewings.records import SlotRow

# The shape of EXPLAIN (FORMAT JSON): a join under a limit, a bitmap of two indexes, a
# sub-plan scanning a table whole, and an insert with its arbiter index.
PLAN: list[dict[str, Any]] = [
    {
        "Plan": {
            "Node Type": "ModifyTable",
            "Operation": "Insert",
            "Total Cost": 57.184,
            "Conflict Arbiter Indexes": ["ux_viewings_live_slot"],
            "Plans": [
                {
                    "Node Type": "Nested Loop",
                    "Plans": [
                        {
                            "Node Type": "Bitmap Heap Scan",
                            "Relation Name": "listings",
                            "Plans": [
                                {
                                    "Node Type": "BitmapAnd",
                                    "Plans": [
                                        {"Node Type": "Bitmap Index Scan", "Index Name": "ix_a"},
                                        {"Node Type": "Bitmap Index Scan", "Index Name": "ix_b"},
                                    ],
                                }
                            ],
                        },
                        {
                            "Node Type": "Index Only Scan",
                            "Index Name": "pk_listings",
                            "Relation Name": "listings",
                        },
                        {
                            "Node Type": "Seq Scan",
                            "Parent Relationship": "SubPlan",
                            "Relation Name": "users",
                        },
                    ],
                }
            ],
        }
    }
]
ROWS = {"listings": 50_000.0, "users": 5_300.0, "messages": 160_000.0}


def test_a_fingerprint_names_every_index_node_type_and_whole_table_scan() -> None:
    fp = fingerprint(PLAN)
    assert fp.indexes == ("ix_a", "ix_b", "pk_listings", "ux_viewings_live_slot")
    assert fp.seq_scans == ("users",)
    assert "BitmapAnd" in fp.nodes
    assert "ModifyTable" in fp.nodes
    assert fp.cost == 57.18


BASE = Fingerprint(("ix_a", "pk_listings"), ("Index Only Scan", "Limit"), (), 10.0)


def test_a_lost_index_a_cost_past_the_factor_and_a_big_seq_scan_are_regressions() -> None:
    worse = Fingerprint(("pk_listings",), ("Seq Scan", "Limit"), ("listings",), 10.0 * 40)
    problems, notes = compare(BASE, worse, ROWS)
    assert problems == [
        "lost index ix_a",
        f"cost 10.00 -> 400.00: 40.0x the baseline (limit {FACTOR:g}x)",
        "new Seq Scan on listings (50,000 rows)",
    ]
    assert notes == ["nodes: -Index Only Scan +Seq Scan"]


def test_changes_within_the_rules_are_notes() -> None:
    other = Fingerprint(
        ("ix_a", "ix_c", "pk_listings"), ("Index Only Scan", "Limit"), ("tiny",), 10.0 * 2.9
    )
    problems, notes = compare(BASE, other, {"tiny": 40.0})
    assert problems == []
    assert notes == [
        "now also uses index ix_c",
        "cost 10.00 -> 29.00 (2.90x)",
        "new Seq Scan on tiny (40 rows: small)",
    ]
    assert compare(BASE, BASE, ROWS) == ([], [])


def _baseline(**statements: Fingerprint) -> Baseline:
    return Baseline({"listings": 50_000, "seed": 19, "version": 1}, "PostgreSQL 15", statements)


def test_the_verdict_covers_new_missing_and_unplannable_statements() -> None:
    baseline = _baseline(kept=BASE, gone=BASE, broken=BASE)
    outcomes = {
        "kept": Outcome("GET /kept", BASE),
        "broken": Outcome("POST /broken", error="ProgrammingError: no unique constraint"),
        "new": Outcome("GET /new", BASE),
    }
    verdict = judge(baseline, outcomes, ROWS, baseline.dataset)
    assert not verdict.ok
    by_name = {f.name: f for f in verdict.findings}
    assert by_name["kept"].problems == ()
    assert by_name["gone"].problems[0].startswith("in the baseline but no longer")
    assert by_name["broken"].problems == ("not planned: ProgrammingError: no unique constraint",)
    assert by_name["new"].problems[0].startswith("not in the baseline")
    text = "\n".join(report(verdict))
    assert "FAIL  broken" in text
    assert "runs for: POST /broken" in text
    assert "3 of 4 statements regressed" in text

    other_data = judge(_baseline(kept=BASE), {"kept": outcomes["kept"]}, ROWS, {"listings": 1})
    assert not other_data.ok
    assert other_data.general


def test_the_baseline_file_round_trips_and_an_update_says_what_changed(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    old = _baseline(a=BASE, b=BASE)
    old.write(path)
    assert Baseline.read(path) == old
    moved = Fingerprint(("pk_listings",), BASE.nodes, (), 12.0)
    new = _baseline(a=moved, c=BASE)
    assert changes(old, new) == [
        "~ a: no longer uses index ix_a; cost 10.00 -> 12.00 (1.20x)",
        "- b",
        "+ c: cost 10.00, indexes ix_a, pk_listings",
    ]
    assert changes(new, new) == ["no change"]


_ANCHORS = Anchors(
    listing_id=uuid.uuid4(),
    page_ids=b"".join(uuid.uuid4().bytes for _ in range(21)),
    slot=SlotRow(
        uuid.uuid4(),
        uuid.uuid4(),
        datetime(2026, 12, 3, 10, tzinfo=UTC),
        datetime(2026, 12, 3, 10, 30, tzinfo=UTC),
        datetime(2026, 11, 1, tzinfo=UTC),
        None,
    ),
    landlord_id=uuid.uuid4(),
    tenant_id=uuid.uuid4(),
    conversation_id=uuid.uuid4(),
    author_id=uuid.uuid4(),
)


def test_every_hot_statement_renders_with_driver_placeholders_and_their_values() -> None:
    names = [s.name for s in HOT_STATEMENTS]
    assert len(names) == len(set(names))
    for hot in HOT_STATEMENTS:
        rendered = hot.render(_ANCHORS)
        placeholders = set(re.findall(r"%\((\w+)\)s", rendered.sql))
        assert placeholders <= set(rendered.params), hot.name
        assert not re.search(r"(?<![:\w]):[a-z_]+\b", rendered.sql), hot.name  # nothing unbound


def test_repository_statements_are_the_repositories_own() -> None:
    by_name = {s.name: s.render(_ANCHORS) for s in HOT_STATEMENTS}
    detail = by_name["detail.listing"]
    assert "FROM listings" in detail.sql
    assert _ANCHORS.listing_id in detail.params.values()
    images = by_name["detail.images"]  # an expanding IN list, rendered as the driver gets it
    assert "POSTCOMPILE" not in images.sql
    assert _ANCHORS.listing_id in images.params.values()
    insert = by_name["booking.insert"]
    assert insert.sql.startswith("INSERT INTO viewings")
    assert "ON CONFLICT (slot_id)" in insert.sql
    send = by_name["messages.send"]
    assert "FOR UPDATE" in send.sql
    assert send.params["author_id"] == _ANCHORS.author_id
