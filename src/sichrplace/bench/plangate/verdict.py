"""The gate's rules: today's plans against the baseline, and what the report says.

Per statement, a regression is any of:
- an index of the baseline's plan is no longer used (Index Scan, Index Only Scan, Bitmap
  Index Scan, or the arbiter of an INSERT ... ON CONFLICT);
- the estimated total cost is above FACTOR times the baseline's;
- a Seq Scan on a big table (BIG_TABLE_ROWS rows or more in the data set) that the
  baseline's plan did not have;
- the statement cannot be planned (a dropped arbiter index makes its ON CONFLICT an error);
- the statement is not in the baseline, or the baseline has one that is no longer hot.
Everything else that changed (indexes gained, node types, a cost within the factor) is a note.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sichrplace.bench.plangate.fingerprint import Baseline, Fingerprint, Outcome

# Why 3: the data set and its statistics are fixed, so an unchanged plan costs the same to the
# hundredth on every run (measured: docs/performance.md "The plan-regression gate"). What moves
# an estimate without a plan worth stopping for is small: a migration that widens a row, a new
# column's statistics, a minor release's cost tweaks; within 1.5x. What the gate is for is big:
# a lost index costs 10x to 1000x on this data set; a covering index that stops covering (a
# heap visit per candidate) or a sort of the whole match set, 3x and more.
FACTOR = 3.0
BIG_TABLE_ROWS = 10_000
_NOTABLE_COST_CHANGE = 0.01  # a cost this much (relative) away from the baseline is noted


@dataclass(frozen=True)
class Finding:
    name: str
    serves: str
    problems: tuple[str, ...]
    notes: tuple[str, ...]
    cost: float | None = None


@dataclass(frozen=True)
class Verdict:
    findings: tuple[Finding, ...]
    general: tuple[str, ...] = ()  # problems of the whole run (another data set)

    @property
    def regressions(self) -> list[Finding]:
        return [f for f in self.findings if f.problems]

    @property
    def ok(self) -> bool:
        return not self.general and not self.regressions


def ratio(new: float, old: float) -> float:
    return new / max(old, 0.01)


def compare(
    base: Fingerprint, now: Fingerprint, rows: Mapping[str, float], factor: float = FACTOR
) -> tuple[list[str], list[str]]:
    """(problems, notes) of one statement's plan against its baseline."""
    problems = [f"lost index {name}" for name in sorted(set(base.indexes) - set(now.indexes))]
    notes = [f"now also uses index {name}" for name in sorted(set(now.indexes) - set(base.indexes))]
    grown = ratio(now.cost, base.cost)
    if grown > factor:
        problems.append(
            f"cost {base.cost:,.2f} -> {now.cost:,.2f}: {grown:,.1f}x the baseline "
            f"(limit {factor:g}x)"
        )
    elif abs(grown - 1) > _NOTABLE_COST_CHANGE:
        notes.append(f"cost {base.cost:,.2f} -> {now.cost:,.2f} ({grown:.2f}x)")
    for table in sorted(set(now.seq_scans) - set(base.seq_scans)):
        size = rows.get(table, 0.0)
        if size >= BIG_TABLE_ROWS:
            problems.append(f"new Seq Scan on {table} ({size:,.0f} rows)")
        else:
            notes.append(f"new Seq Scan on {table} ({size:,.0f} rows: small)")
    for table in sorted(set(base.seq_scans) - set(now.seq_scans)):
        notes.append(f"no longer a Seq Scan on {table}")
    gone = sorted(set(base.nodes) - set(now.nodes))
    came = sorted(set(now.nodes) - set(base.nodes))
    if gone or came:
        notes.append("nodes: " + " ".join([f"-{n}" for n in gone] + [f"+{n}" for n in came]))
    return problems, notes


def judge(
    baseline: Baseline,
    outcomes: Mapping[str, Outcome],
    rows: Mapping[str, float],
    dataset: Mapping[str, int],
    factor: float = FACTOR,
) -> Verdict:
    general: list[str] = []
    if dict(baseline.dataset) != dict(dataset):
        general.append(
            f"the baseline was recorded on data set {baseline.dataset}, this is {dict(dataset)}: "
            "record it again (`sichrplace db plans --update`)"
        )
    findings: list[Finding] = []
    for name in sorted(set(baseline.statements) | set(outcomes)):
        outcome = outcomes.get(name)
        base = baseline.statements.get(name)
        serves = outcome.serves if outcome else baseline.serves.get(name, "")
        if outcome is None:
            problem = "in the baseline but no longer a hot statement: `db plans --update`"
            findings.append(Finding(name, serves, (problem,), ()))
        elif outcome.fingerprint is None:
            findings.append(Finding(name, serves, (f"not planned: {outcome.error}",), ()))
        elif base is None:
            problem = "not in the baseline (a new hot statement?): `db plans --update`"
            findings.append(Finding(name, serves, (problem,), (), outcome.fingerprint.cost))
        else:
            problems, notes = compare(base, outcome.fingerprint, rows, factor)
            findings.append(
                Finding(name, serves, tuple(problems), tuple(notes), outcome.fingerprint.cost)
            )
    return Verdict(tuple(findings), tuple(general))


def report(verdict: Verdict, factor: float = FACTOR) -> list[str]:
    """The verdict as lines: each statement with its cost, what broke and what else changed."""
    lines = [f"FAIL  {problem}" for problem in verdict.general]
    width = max((len(f.name) for f in verdict.findings), default=0)
    for f in verdict.findings:
        cost = "" if f.cost is None else f"cost {f.cost:,.2f}"
        status = "FAIL" if f.problems else "ok"
        lines.append(f"{status:<5} {f.name:<{width}}  {cost}".rstrip())
        if f.problems:
            lines.append(f"        runs for: {f.serves}")
        lines.extend(f"        {p}" for p in f.problems)
        lines.extend(f"        note: {n}" for n in f.notes)
    failed = len(verdict.regressions)
    total = len(verdict.findings)
    if verdict.ok:
        lines.append(f"plan gate passed: {total} statements, none regressed (limit {factor:g}x)")
    else:
        lines.append(
            f"plan gate FAILED: {failed} of {total} statements regressed (limit {factor:g}x). "
            "Fix the cause, or if the new plan is the intended one, record it: "
            "`sichrplace db plans --update`"
        )
    return lines


def changes(old: Baseline | None, new: Baseline) -> list[str]:
    """What an update changes in the baseline, statement by statement."""
    if old is None:
        return [f"+ {name}: cost {fp.cost:,.2f}" for name, fp in sorted(new.statements.items())]
    lines: list[str] = []
    if old.dataset != new.dataset:
        lines.append(f"data set {old.dataset} -> {new.dataset}")
    for name in sorted(set(old.statements) | set(new.statements)):
        before, after = old.statements.get(name), new.statements.get(name)
        if before is None:
            if after is not None:
                indexes = ", ".join(after.indexes)
                lines.append(f"+ {name}: cost {after.cost:,.2f}, indexes {indexes}")
        elif after is None:
            lines.append(f"- {name}")
        elif before != after:
            _, notes = compare(before, after, {}, factor=float("inf"))
            lost = sorted(set(before.indexes) - set(after.indexes))
            notes = [f"no longer uses index {i}" for i in lost] + notes
            notes = notes or [f"cost {before.cost:,.2f} -> {after.cost:,.2f}"]
            lines.append(
                f"~ {name}: " + "; ".join(n.replace(" (0 rows: small)", "") for n in notes)
            )
    return lines or ["no change"]
