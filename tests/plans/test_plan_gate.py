"""The plan-regression gate on its data set (`sichrplace_plans`, built once and kept): today's
plans match the recorded baseline; a dropped hot index (inside a transaction that is rolled
back, in the gate's own database) and a cost past the factor fail it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import psycopg
import pytest

from sichrplace.bench.plangate import dataset, gate
from sichrplace.bench.plangate.fingerprint import Baseline
from sichrplace.bench.plangate.statements import HOT_STATEMENTS
from sichrplace.bench.plangate.verdict import FACTOR, report
from sichrplace.config import Settings


@pytest.fixture(scope="module")
def plan_conn(settings: Settings) -> Iterator[psycopg.Connection[Any]]:
    dataset.prepare(settings)
    with gate.connect(settings) as conn:
        yield conn


@pytest.fixture(scope="module")
def baseline() -> Baseline:
    return Baseline.read(gate.BASELINE)


def _hot(name: str) -> list[Any]:
    return [s for s in HOT_STATEMENTS if s.name == name]


def test_the_hot_statements_keep_their_recorded_plans(
    plan_conn: psycopg.Connection[Any], baseline: Baseline
) -> None:
    verdict, seen = gate.check(plan_conn, baseline)
    assert verdict.ok, "\n".join(report(verdict))
    assert set(seen.outcomes) == {s.name for s in HOT_STATEMENTS}
    assert seen.rows["listings"] == dataset.LISTINGS


@pytest.mark.parametrize(
    ("statement", "index", "why"),
    [
        ("search.newest.city", "ix_listings_search_city_newest", "lost index"),
        ("messages.conversations", "ix_conversation_members_user_id_activity", "lost index"),
        ("booking.free_slots", "ix_viewing_slots_listing_id", "lost index"),
        # ON CONFLICT names its arbiter: without it the booking cannot even be planned.
        ("booking.insert", "ux_viewings_live_slot", "not planned"),
    ],
)
def test_the_gate_fails_when_a_hot_index_is_dropped(
    plan_conn: psycopg.Connection[Any], baseline: Baseline, statement: str, index: str, why: str
) -> None:
    assert index in baseline.statements[statement].indexes  # the index this test is about
    with plan_conn.transaction(force_rollback=True):
        plan_conn.execute(f"DROP INDEX {index}")
        verdict, _ = gate.check(plan_conn, _only(baseline, statement), _hot(statement))
    assert not verdict.ok
    (finding,) = verdict.findings
    text = "\n".join(report(verdict))
    assert any(p.startswith(why) for p in finding.problems), text
    if why == "lost index":
        assert f"lost index {index}" in finding.problems, text
    # Rolled back: the index is there again, and the statement plans as recorded.
    assert plan_conn.execute("SELECT to_regclass(%s)", [index]).fetchone() == (index,)
    assert gate.check(plan_conn, _only(baseline, statement), _hot(statement))[0].ok


def test_a_lost_index_shows_as_a_whole_table_scan_of_a_big_table(
    plan_conn: psycopg.Connection[Any], baseline: Baseline
) -> None:
    statement = "detail.listing"
    with plan_conn.transaction(force_rollback=True):
        plan_conn.execute("ALTER TABLE listings DROP CONSTRAINT pk_listings CASCADE")
        verdict, _ = gate.check(plan_conn, _only(baseline, statement), _hot(statement))
    (finding,) = verdict.findings
    assert "lost index pk_listings" in finding.problems
    assert any(p.startswith("new Seq Scan on listings (50,000 rows)") for p in finding.problems)


def test_a_cost_past_the_factor_fails_and_one_within_it_is_a_note(
    plan_conn: psycopg.Connection[Any], baseline: Baseline
) -> None:
    statement = "search.newest.city"
    recorded = baseline.statements[statement]
    cheaper = _only(baseline, statement, replace(recorded, cost=recorded.cost / (FACTOR * 2)))
    verdict, _ = gate.check(plan_conn, cheaper, _hot(statement))
    (finding,) = verdict.findings
    assert len(finding.problems) == 1
    assert f"{FACTOR * 2:.1f}x the baseline (limit {FACTOR:g}x)" in finding.problems[0]

    within = _only(baseline, statement, replace(recorded, cost=recorded.cost / (FACTOR * 0.9)))
    verdict, _ = gate.check(plan_conn, within, _hot(statement))
    assert verdict.ok
    assert any(n.startswith("cost ") for n in verdict.findings[0].notes)


def _only(baseline: Baseline, name: str, fingerprint: Any = None) -> Baseline:
    """The baseline of one statement (optionally doctored)."""
    return replace(baseline, statements={name: fingerprint or baseline.statements[name]})
