"""`sichrplace payments`: reconcile with the providers now, and list the open differences
(reconciliation's dead-letter-style list)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import typer

from sichrplace.config import get_settings
from sichrplace.kit.clock import utcnow
from sichrplace.payments import repository, service
from sichrplace.payments.parts import PAYMENTS
from sichrplace.payments.records import IssueRecord
from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database

app = typer.Typer(no_args_is_help=True, help="Payments: reconciliation and its findings.")


@app.command()
def reconcile(
    days: int = typer.Option(7, "--days", min=1, help="Compare payments created this far back."),
    settle_minutes: int = typer.Option(
        10, "--settle-minutes", min=0, help="Skip payments younger than this (webhooks pending)."
    ),
    provider: list[str] | None = typer.Option(None, "--provider", help="Default: every one."),
) -> None:
    """Compare the ledger and payments with each provider now (as the periodic job does)."""
    from sichrplace.composition import worker_parts

    async def run() -> service.ReconcileReport:
        async with worker_parts(get_settings()) as parts:
            return await service.reconcile(
                parts.db,
                parts.get(PAYMENTS),
                now=utcnow(),
                lookback=timedelta(days=days),
                settle=timedelta(minutes=settle_minutes),
                providers=provider or None,
            )

    report = asyncio.run(run())
    typer.echo(
        f"compared {report.compared} payments: {report.found} differences "
        f"({report.new} new), {report.open} open"
    )
    for kind, count in sorted(report.by_kind.items()):
        typer.echo(f"  {kind}: {count}")


@app.command()
def issues(
    limit: int = typer.Option(100, "--limit", min=1),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """List the open reconciliation issues, newest first."""

    async def run() -> list[IssueRecord]:
        db = Database(get_settings().db)
        try:
            async with transaction(db) as session:
                return await repository.open_issues(session, limit=limit)
        finally:
            await db.dispose()

    rows = asyncio.run(run())
    if as_json:
        for row in rows:
            typer.echo(
                json.dumps(
                    {
                        "id": row.id,
                        "provider": row.provider,
                        "provider_ref": row.provider_ref,
                        "payment_id": str(row.payment_id) if row.payment_id else None,
                        "kind": row.kind.value,
                        "detail": row.detail,
                        "first_seen_at": row.first_seen_at.isoformat(),
                        "last_seen_at": row.last_seen_at.isoformat(),
                    }
                )
            )
        return
    typer.echo(f"{'ID':>6}  {'KIND':<20}  {'PROVIDER':<8}  {'REF':<28}  FIRST SEEN  DETAIL")
    for row in rows:
        typer.echo(
            f"{row.id:>6}  {row.kind.value:<20}  {row.provider:<8}  {row.provider_ref:<28}  "
            f"{row.first_seen_at:%Y-%m-%d %H:%M}  {row.detail}"
        )
    if not rows:
        typer.echo("no open issues")
