"""`sichrplace slo`: SLOs as code (deploy/slo/slos.yaml -> deploy/prometheus/rules/)."""

from __future__ import annotations

from pathlib import Path

import typer

from sichrplace.ops import slo

app = typer.Typer(no_args_is_help=True, help="Service level objectives: rules and alerts.")


@app.command("generate")
def generate(
    source: Path = typer.Option(slo.SLO_FILE, help="The SLO declarations."),
    target: Path = typer.Option(slo.RULES_FILE, help="The Prometheus rule file to write."),
    check: bool = typer.Option(
        False, "--check", help="Write nothing; exit 1 when the target is not up to date."
    ),
) -> None:
    """Write the recording rules and burn-rate alerts of every SLO (commit the result)."""
    try:
        changed = slo.generate(source, target, check=check)
    except slo.SloError as exc:
        typer.echo(f"slo: {exc}", err=True)
        raise typer.Exit(2) from exc
    if check and changed:
        typer.echo(f"slo: {target} is out of date: run `sichrplace slo generate`", err=True)
        raise typer.Exit(1)
    typer.echo(f"slo: {target} {'written' if changed else 'up to date'}")
