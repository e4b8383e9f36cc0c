"""`sichrplace mail`: the local SMTP sink and what it caught."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from sichrplace.config import get_settings
from sichrplace.notifications import sink
from sichrplace.platform.observability.logging import configure_logging

app = typer.Typer(no_args_is_help=True, help="Local mail sink.")


@app.command("sink")
def run_sink(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int | None = typer.Option(None, "--port", help="Default: the stack's SMTP port."),
    directory: Path | None = typer.Option(None, "--dir", help="Default: <data dir>/mail."),
) -> None:
    """Accept every message and store it as DIR/<utc-timestamp>-<uuid>.eml."""
    settings = get_settings()
    configure_logging(settings.log)
    asyncio.run(
        sink.serve_sink(
            host, port or settings.stack.smtp_port, directory or sink.mail_dir(settings.stack)
        )
    )


@app.command("list")
def list_mail(
    directory: Path | None = typer.Option(None, "--dir", help="Default: <data dir>/mail."),
) -> None:
    """Print from / to / subject of every stored message, oldest first."""
    folder = directory or sink.mail_dir(get_settings().stack)
    for path, msg in sink.iter_messages(folder):
        typer.echo(f"{path.name}  from={msg['From']}  to={msg['To']}  subject={msg['Subject']}")
