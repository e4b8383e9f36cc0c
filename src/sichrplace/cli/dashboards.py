"""`sichrplace dashboards`: Grafana dashboards as code (ops/dashboards -> deploy/grafana/)."""

from __future__ import annotations

from pathlib import Path

import typer

from sichrplace.ops.dashboards import build

app = typer.Typer(no_args_is_help=True, help="Grafana dashboards: generate the JSON.")


@app.command("generate")
def generate(
    target: Path = typer.Option(build.DASHBOARD_DIR, help="Folder of the dashboards' JSON."),
    check: bool = typer.Option(
        False, "--check", help="Write nothing; exit 1 when a file is not up to date."
    ),
) -> None:
    """Write every dashboard's JSON (commit the result)."""
    if check:
        stale = build.stale(target)
        if stale:
            typer.echo(
                f"dashboards: out of date in {target}: {', '.join(stale)}: "
                "run `sichrplace dashboards generate`",
                err=True,
            )
            raise typer.Exit(1)
        typer.echo(f"dashboards: {target} up to date")
        return
    for path in target.glob("*.json"):
        path.unlink()  # a dashboard removed from the spec goes too
    written = build.write_all(target)
    typer.echo(f"dashboards: wrote {len(written)} files to {target}")
