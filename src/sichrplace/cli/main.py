"""The `sichrplace` command."""

from __future__ import annotations

import typer

from sichrplace.cli import db, serve, stack

app = typer.Typer(no_args_is_help=True, add_completion=False, help="SichrPlace platform CLI.")
app.add_typer(stack.app, name="stack")
app.add_typer(db.app, name="db")
app.command("serve")(serve.serve)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
