"""`sichrplace edge`: the local stack's edge program, and purges by surrogate key."""

from __future__ import annotations

import asyncio
import signal

import typer

from sichrplace.config import get_settings
from sichrplace.stack.layout import layout_for

app = typer.Typer(no_args_is_help=True, help="The edge (local CDN): its program and purges.")


@app.command()
def run(
    poll: float = typer.Option(0.05, help="seconds between looks at the edge's logs"),
) -> None:
    """Count the views the edge served from its cache and index what it stored (until
    SIGTERM/SIGINT); supervisord runs it as the program `edge`."""
    from sichrplace.platform.observability.setup import setup_observability
    from sichrplace.stack.edge import program

    settings = get_settings()
    setup_observability(settings, service="edge")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await program.run(settings, layout_for(settings), poll_seconds=poll, stop=stop)

    asyncio.run(main())


@app.command()
def purge(
    keys: list[str] = typer.Argument(..., help="surrogate keys, e.g. listing-<id> city-berlin"),
) -> None:
    """Purge every answer carrying one of KEYS at the configured purgers
    (SICHRPLACE_EDGE_PURGERS): what a listing change does after commit, by hand."""
    from sichrplace.composition import edge_purges

    async def main() -> bool:
        async with edge_purges(get_settings()) as purges:
            return await purges.purge_now(keys)

    ok = asyncio.run(main())
    typer.echo(("purged: " if ok else "purge failed (see the log): ") + " ".join(keys))
    if not ok:
        raise typer.Exit(1)
