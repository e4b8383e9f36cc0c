"""`sichrplace stack faultproxy`: the chaos matrix's fault-injecting TCP proxy."""

from __future__ import annotations

import asyncio
import json

import typer

from sichrplace.config import get_settings
from sichrplace.stack import faultproxy
from sichrplace.stack.faults import control, placement
from sichrplace.stack.layout import layout_for

app = typer.Typer(no_args_is_help=True, help="The fault proxy in the APIs' paths (chaos).")


def _say(msg: str) -> None:
    typer.echo(f"faultproxy: {msg}")


@app.command()
def serve() -> None:
    """Run the proxy (the stack's `faultproxy` program)."""
    # The standard loop: its transports honour SO_LINGER 0 on abort() (a real RST).
    asyncio.run(faultproxy.run(get_settings()))


@app.command()
def arm() -> None:
    """Point the API instances through the proxy, one restart at a time."""
    settings = get_settings()
    took = placement.arm(settings, layout_for(settings), _say)
    _say(f"armed ({len(took)} instances, {sum(took):.1f}s)")


@app.command()
def disarm() -> None:
    """Point the API instances straight at PgBouncer and Redis again."""
    settings = get_settings()
    took = placement.disarm(settings, layout_for(settings), _say)
    _say(f"disarmed ({len(took)} instances, {sum(took):.1f}s)")


@app.command()
def status() -> None:
    """Armed or not, and every path's mode and counters."""
    settings = get_settings()
    armed = faultproxy.is_armed(layout_for(settings))
    typer.echo(f"APIs: {'through the proxy (armed)' if armed else 'direct (disarmed)'}")
    try:
        typer.echo(json.dumps(control.paths(settings), indent=2))
    except control.FaultProxyError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc


@app.command("set")
def set_mode(
    path: str = typer.Argument(..., help="pgbouncer or redis"),
    mode: str = typer.Argument(..., help="pass, latency, stall, reset, refuse"),
    ms: float = typer.Option(0.0, help="latency: ms added per chunk, each direction"),
    jitter_ms: float = typer.Option(0.0, help="latency: +- this much at random"),
    seconds: float = typer.Option(None, help="stall: how long (default: until cleared)"),
    probability: float = typer.Option(1.0, help="reset: share of new connections reset"),
) -> None:
    """Set one path's fault."""
    params: dict[str, float] = {"ms": ms, "jitter_ms": jitter_ms, "probability": probability}
    if seconds is not None:
        params["seconds"] = seconds
    typer.echo(json.dumps(control.set_mode(get_settings(), path, mode, **params), indent=2))


@app.command()
def clear() -> None:
    """Every path back to `pass`."""
    control.clear(get_settings())
    _say("every path passes")
