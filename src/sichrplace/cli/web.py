"""`sichrplace web`: the web pages' assets.

sichrplace web build   # CSS and JS bundles -> content-hashed files (+ .gz, .br) and manifest
"""

from __future__ import annotations

import typer

from sichrplace.config import get_settings
from sichrplace.web import assets

app = typer.Typer(no_args_is_help=True, help="The web pages' assets.")


@app.command()
def build() -> None:
    """Build the bundles of web/assets.py from node_modules and web/assets/ into the static
    folder (SICHRPLACE_WEB_STATIC_DIR), where nginx serves them under /static/."""
    settings = get_settings()
    missing = [
        spec
        for parts in assets.BUNDLES.values()
        for spec in parts
        if spec.startswith("npm:") and not (settings.app.node_modules_dir / spec[4:]).exists()
    ]
    if missing:
        typer.echo(
            f"web build: missing in node_modules (run npm ci): {', '.join(missing)}", err=True
        )
        raise typer.Exit(1)
    for item in assets.build(settings.app.node_modules_dir, settings.web.static_dir):
        typer.echo(
            f"  {item.file:<28} {item.size / 1024:7.1f} KB  gzip {item.gzip_size / 1024:6.1f} KB"
            f"  brotli {item.brotli_size / 1024:6.1f} KB"
        )
    typer.echo(f"web build: {settings.web.static_dir}")
