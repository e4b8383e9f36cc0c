"""`sichrplace chaos`: the fault matrix under the mixed load (docs/operations.md "Chaos: the
fault matrix")."""

from __future__ import annotations

import typer

from sichrplace.config import get_settings

app = typer.Typer(no_args_is_help=True, help="Faults injected under load, invariants checked.")


def _say(msg: str) -> None:
    typer.echo(f"chaos: {msg}", err=True)


@app.command("list")
def list_faults() -> None:
    """Every fault of the matrix: name, default hold, whether it needs the fault proxy, and
    whether the test command's quick subset runs it."""
    from sichrplace.chaos.faults import FAULTS

    for name, fault in FAULTS.items():
        flags = ", ".join(
            f for f, on in (("proxy", fault.needs_proxy), ("quick", fault.quick)) if on
        )
        typer.echo(f"{name:<20} {fault.hold_s:>5.0f}s  {flags:<12} {fault.description}")


@app.command()
def run(
    faults: list[str] = typer.Argument(None, help="faults to run (default: all of them)"),
    quick: bool = typer.Option(False, "--quick", help="only the bounded subset (quick=True)"),
    rate: float = typer.Option(80.0, help="requests per second of the mixed load"),
    baseline: float = typer.Option(15.0, help="seconds of load before the injection"),
    tail: float = typer.Option(10.0, help="seconds of load after the stack settled"),
    hold: float = typer.Option(None, help="seconds each fault holds (default: its own)"),
    small: bool = typer.Option(False, "--small", help="a small cast (fewer users to make)"),
) -> None:
    """Run faults under the mixed load; write build/chaos/<timestamp>/results.json and print
    the table. Exit 1 when an invariant failed (or could not be checked)."""
    from sichrplace.chaos.faults import FAULTS
    from sichrplace.chaos.runner import RunSpec, render_table, results_dir, run_matrix
    from sichrplace.stack.layout import layout_for

    names = list(faults or [n for n, f in FAULTS.items() if f.quick or not quick])
    if quick and faults:
        names = [n for n in names if FAULTS.get(n) is not None and FAULTS[n].quick]
    unknown = [n for n in names if n not in FAULTS]
    if unknown:
        typer.echo(f"unknown faults: {', '.join(unknown)} (see `sichrplace chaos list`)", err=True)
        raise typer.Exit(2)
    if not names:
        typer.echo("no fault to run", err=True)
        raise typer.Exit(2)
    settings = get_settings()
    spec = RunSpec(rate=rate, baseline_s=baseline, tail_s=tail, hold_s=hold, small_cast=small)
    out_dir = results_dir()
    _say(f"{len(names)} faults, results in {out_dir}")
    results = run_matrix(FAULTS, names, settings, layout_for(settings), spec, out_dir, _say)
    typer.echo(render_table(results), nl=False)
    typer.echo(f"results: {out_dir / 'results.json'}")
    if not all(r.held for r in results):
        raise typer.Exit(1)
