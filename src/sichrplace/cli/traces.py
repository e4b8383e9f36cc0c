"""`sichrplace traces`: the local stack's OTLP receiver, and a request's trace as a tree."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from sichrplace.config import ObservabilityPorts, get_settings
from sichrplace.stack.layout import layout_for
from sichrplace.stack.traces import SpanStore, make_receiver, render_tree

app = typer.Typer(no_args_is_help=True, help="Traces of the local stack.")


def store_path() -> Path:
    """The stack's span store, under its data folder."""
    return layout_for(get_settings()).root / "traces" / "spans.sqlite"


@app.command()
def receive(
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(None, help="default: the stack's otlp_receiver port"),
    store: Path = typer.Option(None, help="default: <data folder>/traces/spans.sqlite"),
) -> None:
    """Accept OTLP/HTTP protobuf exports on POST /v1/traces and store their spans."""
    settings = get_settings()
    port = port or ObservabilityPorts(settings.stack.exporters_base_port).otlp_receiver
    server = make_receiver(host, port, SpanStore(store or store_path()))
    typer.echo(f"otlp receiver on http://{host}:{port}/v1/traces, store {store or store_path()}")
    server.serve_forever()


@app.command()
def show(
    request_id: str,
    wait: float = typer.Option(5.0, help="seconds to wait for the spans to arrive"),
    store: Path = typer.Option(None, help="default: <data folder>/traces/spans.sqlite"),
) -> None:
    """Print the trace of request REQUEST_ID (X-Request-ID / nginx's request_id) as a tree."""
    spans_store = SpanStore(store or store_path())
    deadline = time.monotonic() + wait
    trace_ids = spans_store.trace_ids_for(request_id)
    while not trace_ids and time.monotonic() < deadline:
        time.sleep(0.25)  # exporters send in batches, every few seconds
        trace_ids = spans_store.trace_ids_for(request_id)
    if not trace_ids:
        typer.echo(f"no trace for request {request_id} (not sampled, or not exported yet)")
        raise typer.Exit(1)
    for trace_id in trace_ids:
        typer.echo(f"trace {trace_id}")
        for line in render_tree(spans_store.spans_of(trace_id)):
            typer.echo(f"  {line}")
