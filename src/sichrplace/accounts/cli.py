"""`sichrplace accounts`: operator commands (admins are never self-registered: promote here)."""

from __future__ import annotations

import asyncio

import typer

from sichrplace.accounts import repository as repo
from sichrplace.accounts.models import Role
from sichrplace.config import get_settings
from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database

app = typer.Typer(no_args_is_help=True, help="User accounts.")


async def _set_role(email: str, role: Role) -> str | None:
    db = Database(get_settings().db)
    try:
        async with transaction(db) as session:
            user = await repo.get_user_by_email(session, email)
            if user is None:
                return None
            await repo.set_role(session, user.id, role.value)
            return str(user.id)
    finally:
        await db.dispose()


@app.command("set-role")
def set_role(email: str, role: Role) -> None:
    """Give the registered account EMAIL the role ROLE (e.g. admin). New tokens carry it."""
    user_id = asyncio.run(_set_role(email, role))
    if user_id is None:
        typer.echo(f"no account with email {email}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{user_id} {email} is now {role.value}")
