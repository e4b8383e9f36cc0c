"""`sichrplace db plans`: the plan-regression gate (docs/performance.md "The plan-regression
gate")."""

from __future__ import annotations

from pathlib import Path

import typer

from sichrplace.config import get_settings


def plans(
    update: bool = typer.Option(
        False, "--update", help="Record today's plans as the baseline (a deliberate change)."
    ),
    baseline: Path | None = typer.Option(
        None, help="The baseline file (default: tests/plans/baseline.json)."
    ),
) -> None:
    """EXPLAIN the hot statements (search, facets, detail, booking, messages) on the plan data
    set and compare them with the baseline: exit 1 when a plan lost an index, grew in cost past
    the factor or scans a big table whole. Builds the data set first if it is missing or stale."""
    from sichrplace.bench.plangate import dataset, gate
    from sichrplace.bench.plangate.fingerprint import Baseline
    from sichrplace.bench.plangate.verdict import report

    settings = get_settings()
    path = baseline or gate.BASELINE
    prepared = dataset.prepare(settings, progress=typer.echo)
    if prepared.built:
        typer.echo(
            f"data set {dataset.DATABASE} built in {prepared.seconds:.1f} s: {prepared.timings}"
        )
    with gate.connect(settings) as conn:
        if update:
            try:
                lines, seen = gate.record(conn, path)
            except ValueError as exc:
                typer.echo(f"not recorded: {exc}", err=True)
                raise typer.Exit(1) from exc
            typer.echo(f"{len(seen.outcomes)} plans recorded in {path} ({seen.seconds:.2f} s):")
            for line in lines:
                typer.echo(f"  {line}")
            return
        if not path.exists():
            typer.echo(f"no baseline at {path}: record one with `sichrplace db plans --update`")
            raise typer.Exit(1)
        verdict, seen = gate.check(conn, Baseline.read(path))
    for line in report(verdict):
        typer.echo(line)
    typer.echo(f"({len(seen.outcomes)} statements explained in {seen.seconds:.2f} s)")
    if not verdict.ok:
        raise typer.Exit(1)
