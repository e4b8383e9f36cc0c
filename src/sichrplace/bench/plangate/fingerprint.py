"""A plan's fingerprint (the indexes it uses, its node types, the relations it scans whole, its
estimated cost), how it is taken (EXPLAIN without ANALYZE: planned, never run) and the
recorded baseline. The rules that compare them are in verdict.py."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from sichrplace.bench.plangate.statements import Anchors, HotStatement

_INDEX_NODES = ("Index Scan", "Index Only Scan", "Bitmap Index Scan")


@dataclass(frozen=True)
class Fingerprint:
    indexes: tuple[str, ...]
    nodes: tuple[str, ...]
    seq_scans: tuple[str, ...]  # relations read by a Seq Scan
    cost: float

    def to_json(self) -> dict[str, Any]:
        return {
            "cost": self.cost,
            "indexes": list(self.indexes),
            "seq_scans": list(self.seq_scans),
            "nodes": list(self.nodes),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fingerprint:
        return cls(
            indexes=tuple(data["indexes"]),
            nodes=tuple(data["nodes"]),
            seq_scans=tuple(data["seq_scans"]),
            cost=float(data["cost"]),
        )


def _walk(node: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield node
    for child in node.get("Plans", ()):  # children, InitPlans, SubPlans and CTEs alike
        yield from _walk(child)


def fingerprint(explained: Sequence[Mapping[str, Any]]) -> Fingerprint:
    """The fingerprint of `EXPLAIN (FORMAT JSON)`'s document."""
    top = explained[0]["Plan"]
    indexes: set[str] = set()
    nodes: set[str] = set()
    seq_scans: set[str] = set()
    for node in _walk(top):
        kind = node["Node Type"]
        nodes.add(kind)
        if kind in _INDEX_NODES:
            indexes.add(node["Index Name"])
        elif kind in ("Seq Scan", "Parallel Seq Scan"):  # JSON says parallel apart
            seq_scans.add(node["Relation Name"])
        indexes.update(node.get("Conflict Arbiter Indexes", ()))
    return Fingerprint(
        indexes=tuple(sorted(indexes)),
        nodes=tuple(sorted(nodes)),
        seq_scans=tuple(sorted(seq_scans)),
        cost=round(float(top["Total Cost"]), 2),
    )


@dataclass(frozen=True)
class Outcome:
    """A statement's plan, or why it could not be planned."""

    serves: str
    fingerprint: Fingerprint | None = None
    error: str | None = None


def explain(
    conn: psycopg.Connection[Any], statements: Sequence[HotStatement], anchors: Anchors
) -> dict[str, Outcome]:
    """EXPLAIN (FORMAT JSON) each statement: planned, never run. Each in a transaction of its
    own, or a savepoint inside the caller's (one that fails leaves the others plannable)."""
    out: dict[str, Outcome] = {}
    for hot in statements:
        rendered = hot.render(anchors)
        try:
            with conn.transaction():
                row = conn.execute("EXPLAIN (FORMAT JSON) " + rendered.sql, rendered.params)
                document = row.fetchone()
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            out[hot.name] = Outcome(hot.serves, error=f"{type(exc).__name__}: {first}")
            continue
        assert document is not None
        out[hot.name] = Outcome(hot.serves, fingerprint=fingerprint(document[0]))
    return out


def table_rows(conn: psycopg.Connection[Any]) -> dict[str, float]:
    """Rows of each table of the data set, as the planner knows them."""
    rows = conn.execute(
        "SELECT relname, reltuples FROM pg_class WHERE relkind IN ('r', 'p', 'm') "
        "AND relnamespace = 'public'::regnamespace"
    ).fetchall()
    return {name: float(n) for name, n in rows}


# --- the baseline -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Baseline:
    dataset: dict[str, int]
    server: str
    statements: dict[str, Fingerprint]
    serves: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> Baseline:
        data = json.loads(path.read_text(encoding="utf-8"))
        statements = data["statements"]
        return cls(
            dataset=dict(data["dataset"]),
            server=str(data.get("server", "")),
            statements={name: Fingerprint.from_json(s) for name, s in statements.items()},
            serves={name: str(s["serves"]) for name, s in statements.items() if s.get("serves")},
        )

    def write(self, path: Path) -> None:
        document = {
            "about": (
                "Plans of the hot statements on the plan data set, the baseline of the "
                "plan-regression gate. Rewritten by `sichrplace db plans --update` "
                "(docs/performance.md, The plan-regression gate)."
            ),
            "dataset": self.dataset,
            "server": self.server,
            "statements": {
                name: {"serves": self.serves.get(name, ""), **fp.to_json()}
                for name, fp in sorted(self.statements.items())
            },
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", "utf-8")


def baseline_of(outcomes: Mapping[str, Outcome], dataset: dict[str, int], server: str) -> Baseline:
    """The baseline these plans make (every statement must have been planned)."""
    failed = [name for name, o in outcomes.items() if o.fingerprint is None]
    if failed:
        raise ValueError(f"cannot record statements that were not planned: {failed}")
    return Baseline(
        dataset=dataset,
        server=server,
        statements={n: o.fingerprint for n, o in outcomes.items() if o.fingerprint is not None},
        serves={name: o.serves for name, o in outcomes.items()},
    )
