"""`sichrplace ops`: the local webhook receiver that stands in for Slack and Teams."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from sichrplace.config import ObservabilityPorts, get_settings
from sichrplace.stack.layout import layout_for
from sichrplace.stack.webhooks import WebhookStore, serve

app = typer.Typer(no_args_is_help=True, help="Operations helpers of the local stack.")


def _default_file() -> Path:
    return layout_for(get_settings()).webhooks_file


@app.command("webhook-receiver")
def webhook_receiver(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int | None = typer.Option(None, "--port", help="Default: the stack's receiver port."),
    file: Path | None = typer.Option(None, "--file", help="Default: <data>/alerts/webhooks.jsonl"),
) -> None:
    """Accept webhook POSTs (Alertmanager's Slack and Teams notifications), append each JSON
    body with its path to FILE, and serve them back on GET (GET /slack: those under /slack)."""
    settings = get_settings()
    port = port or ObservabilityPorts(settings.stack.exporters_base_port).webhook_receiver
    serve(host, port, file or _default_file())


@app.command("webhooks")
def webhooks(
    prefix: str = typer.Argument("/", help="only paths under this one, e.g. /slack/page"),
    file: Path | None = typer.Option(None, "--file", help="Default: <data>/alerts/webhooks.jsonl"),
) -> None:
    """Print what the receiver got: time, path, status and alert names of each notification."""
    for entry in WebhookStore(file or _default_file()).entries(prefix):
        body = entry["body"]
        summary = json.dumps(body)[:160]
        if isinstance(body, dict) and "alerts" in body:  # Alertmanager's webhook JSON
            names = sorted({a["labels"].get("alertname", "?") for a in body["alerts"]})
            summary = f"{body.get('status')} {','.join(names)}"
        elif isinstance(body, dict) and "attachments" in body:  # Slack's payload
            summary = " | ".join(str(a.get("title", "")) for a in body["attachments"])
        typer.echo(f"{entry['received_at']}  {entry['path']:14} {summary}")
