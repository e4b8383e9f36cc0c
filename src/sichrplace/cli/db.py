"""`sichrplace db`: migrations."""

from __future__ import annotations

import typer
from alembic import command
from alembic.config import Config

from sichrplace.cli import db_analytics, db_backup, db_plans, db_report
from sichrplace.config import PROJECT_ROOT

app = typer.Typer(no_args_is_help=True, help="Database migrations.")


def alembic_config() -> Config:
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    return cfg


@app.command()
def upgrade(revision: str = typer.Argument("head")) -> None:
    """Apply migrations up to REVISION (default: head)."""
    command.upgrade(alembic_config(), revision)


@app.command()
def downgrade(revision: str) -> None:
    """Revert migrations down to REVISION."""
    command.downgrade(alembic_config(), revision)


@app.command()
def current() -> None:
    """Show the applied revision."""
    command.current(alembic_config(), verbose=True)


app.command("analytics")(db_analytics.analytics)
app.command("backup")(db_backup.backup)
app.command("backups")(db_backup.backups)
app.command("restore")(db_backup.restore)
app.command("drill")(db_backup.drill)


app.command("report")(db_report.report)
app.command("plans")(db_plans.plans)
