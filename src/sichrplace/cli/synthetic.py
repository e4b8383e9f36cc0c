"""`sichrplace synthetic`: run the synthetic journeys now (as the worker does every 5 minutes),
and show their latest recorded results."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import typer

from sichrplace.config import get_settings
from sichrplace.ops.synthetic import rules, service, store
from sichrplace.ops.synthetic.records import JourneyResult, Stored
from sichrplace.platform.db.engines import Database
from sichrplace.platform.redis import make_redis

app = typer.Typer(no_args_is_help=True, help="Synthetic journeys: run them, show their results.")


def _line(result: JourneyResult) -> str:
    steps = " ".join(
        f"{s.name}={s.seconds * 1000:.0f}ms{'' if s.ok else '!'}" for s in result.steps
    )
    verdict = "PASS" if result.ok else f"FAIL ({result.error})"
    tail = f"  cleanup failed: {result.cleanup_error}" if result.cleanup_error else ""
    return f"{result.journey:<9} {verdict}  {result.seconds:.2f}s  {steps}{tail}"


@app.command("run")
def run(
    journey: list[str] | None = typer.Option(
        None, "--journey", help=f"One of {', '.join(rules.JOURNEYS)} (repeatable); default all."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per journey."),
) -> None:
    """Run journeys now through the public entry point and record their results where the
    workers export them (Redis); exit 1 if one failed. Waits for a run of the same journey
    elsewhere (the schedule) to end first."""
    try:
        chosen = [rules.check_journey(j) for j in journey] if journey else list(rules.JOURNEYS)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    settings = get_settings()

    async def go() -> list[JourneyResult]:
        db, redis = Database(settings.db), make_redis(settings.redis)
        try:
            return await service.run(db, redis, settings, chosen, wait=True)
        finally:
            await redis.aclose()
            await db.dispose()

    results = asyncio.run(go())
    for result in results:
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "journey": result.journey,
                        "ok": result.ok,
                        "seconds": round(result.seconds, 3),
                        "steps": {s.name: round(s.seconds, 3) for s in result.steps},
                        "failed_step": result.failed_step,
                        "error": result.error,
                        "cleanup_error": result.cleanup_error,
                    }
                )
            )
        else:
            typer.echo(_line(result))
    if len(results) < len(chosen) or not all(r.ok for r in results):
        raise typer.Exit(1)


def _stored_line(s: Stored) -> str:
    when = datetime.fromtimestamp(s.finished_at, UTC).isoformat(timespec="seconds")
    verdict = "PASS" if s.ok else f"FAIL at {s.failed_step or '-'} ({s.error})"
    return (
        f"{s.journey:<9} {verdict}  last run {when}  {s.seconds:.2f}s  "
        f"failed in a row: {s.consecutive_failures}  runs: {s.runs_succeeded} passed, "
        f"{s.runs_failed} failed"
    )


@app.command("status")
def status() -> None:
    """The latest recorded result of each journey (what the workers export)."""
    settings = get_settings()

    async def go() -> list[Stored | None]:
        redis = make_redis(settings.redis)
        try:
            return [await store.read(redis, j) for j in rules.JOURNEYS]
        finally:
            await redis.aclose()

    for journey, found in zip(rules.JOURNEYS, asyncio.run(go()), strict=True):
        typer.echo(_stored_line(found) if found else f"{journey:<9} never run")
