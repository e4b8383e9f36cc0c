"""The `sichrplace` command."""

from __future__ import annotations

import typer

from sichrplace.accounts import cli as accounts_cli
from sichrplace.cli import (
    bench,
    chaos,
    check,
    dashboards,
    db,
    edge,
    fakes,
    i18n,
    image,
    jobs,
    mail,
    ops,
    payments,
    seed,
    serve,
    slo,
    stack,
    synthetic,
    traces,
    web,
)

app = typer.Typer(no_args_is_help=True, add_completion=False, help="SichrPlace platform CLI.")
app.add_typer(stack.app, name="stack")
app.add_typer(db.app, name="db")
app.add_typer(jobs.app, name="jobs")
app.add_typer(mail.app, name="mail")
app.add_typer(accounts_cli.app, name="accounts")
app.add_typer(seed.app, name="seed")
app.add_typer(bench.app, name="bench")
app.add_typer(chaos.app, name="chaos")
app.add_typer(check.app, name="check")
app.add_typer(slo.app, name="slo")
app.add_typer(ops.app, name="ops")
app.add_typer(dashboards.app, name="dashboards")
app.add_typer(traces.app, name="traces")
app.add_typer(fakes.app, name="fakes")
app.add_typer(payments.app, name="payments")
app.add_typer(i18n.app, name="i18n")
app.add_typer(web.app, name="web")
app.add_typer(synthetic.app, name="synthetic")
app.add_typer(image.app, name="image")
app.add_typer(edge.app, name="edge")
app.command("serve")(serve.serve)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
