"""`sichrplace stack`: the local production-like stack (work in progress)."""

import typer

app = typer.Typer(no_args_is_help=True, help="The local production-like stack.")
