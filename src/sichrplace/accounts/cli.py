"""`sichrplace accounts`: operator commands (admins are never self-registered: promote here;
suspensions also work here, as the admin API is not reachable through the public entry)."""

from __future__ import annotations

import asyncio

import typer

from sichrplace.accounts import repository as repo
from sichrplace.accounts import service
from sichrplace.accounts.models import Role
from sichrplace.config import get_settings
from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database
from sichrplace.platform.redis import make_redis

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


async def _set_suspended(email: str, *, suspended: bool) -> str | None:
    settings = get_settings()
    db, redis = Database(settings.db), make_redis(settings.redis)
    try:
        # The boundary commits, then tells Redis (every API instance) before returning.
        async with transaction(db) as session:
            user = await repo.get_user_by_email(session, email)
            if user is None:
                return None
            await service.set_suspended(session, redis, settings.auth, user.id, suspended=suspended)
            return str(user.id)
    finally:
        await redis.aclose()
        await db.dispose()


def _suspension(email: str, *, suspended: bool) -> None:
    user_id = asyncio.run(_set_suspended(email, suspended=suspended))
    if user_id is None:
        typer.echo(f"no account with email {email}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{user_id} {email} is now {'suspended' if suspended else 'active'}")


@app.command("suspend")
def suspend(email: str) -> None:
    """Suspend the account EMAIL: its sessions end within seconds, login and refresh are
    refused (403) until `unsuspend`."""
    _suspension(email, suspended=True)


@app.command("unsuspend")
def unsuspend(email: str) -> None:
    """Lift the suspension of the account EMAIL (it logs in again; old sessions stay ended)."""
    _suspension(email, suspended=False)
