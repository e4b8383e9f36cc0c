"""`sichrplace stack release` and `stack canary`: new versions onto the running stack."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from sichrplace.config import get_settings
from sichrplace.stack import canary as canary_mod
from sichrplace.stack import release as release_mod
from sichrplace.stack import releases
from sichrplace.stack.layout import layout_for
from sichrplace.stack.releases import ReleaseError


def _say(msg: str) -> None:
    typer.echo(f"release: {msg}")


def _seconds(text: str) -> float:
    """`60s`, `2m` or a plain number of seconds."""
    found = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|m)?", text.strip())
    if not found:
        raise typer.BadParameter(f"not a duration: {text!r} (e.g. 60s, 2m)")
    return float(found.group(1)) * (60 if found.group(2) == "m" else 1)


def _prepare(version: str | None, source: Path | None) -> releases.Release | None:
    settings = get_settings()
    try:
        return releases.prepare(settings, layout_for(settings), version, source)
    except ReleaseError as exc:
        typer.echo(f"release: ERROR: {exc}", err=True)
        raise typer.Exit(1) from exc


def release(
    version: str = typer.Argument(
        None, help="a git ref (tag, branch, commit) or `checkout` (the editable install)"
    ),
    source: Path = typer.Option(None, "--source", help="a source tree instead of a git ref"),
    status: bool = typer.Option(False, "--status", help="show what each program runs"),
    workers: bool = typer.Option(True, help="replace the workers after the APIs"),
    migrate: bool = typer.Option(True, help="run the version's migrations first"),
    ready_timeout: str = typer.Option("90s", help="bound for an instance to become ready"),
    warm_timeout: str = typer.Option(
        "120s", help="bound for its facet index to load before it rejoins (0: do not wait)"
    ),
    force: bool = typer.Option(False, help="replace programs already on the version too"),
) -> None:
    """Replace the API instances one at a time (out of nginx, drained, restarted on VERSION,
    ready, back), then the workers; roll back if one does not become ready."""
    settings = get_settings()
    layout = layout_for(settings)
    if status:
        for item in release_mod.running(settings, layout):
            typer.echo(f"{item.name:12} {item.release:40} reports {item.reported}")
        return
    if version is None and source is None:
        raise typer.BadParameter("VERSION or --source is needed (or --status)")
    target = _prepare(version, source)
    _say(f"version {releases.describe(layout, target.id if target else None)}")
    try:
        if migrate:
            release_mod.migrate(settings, target, _say)
        outcome = release_mod.release(
            settings,
            layout,
            target,
            _say,
            workers=workers,
            ready_timeout=_seconds(ready_timeout),
            warm_timeout=_seconds(warm_timeout),
            force=force,
        )
    except ReleaseError as exc:
        typer.echo(f"release: ERROR: {exc}", err=True)
        raise typer.Exit(1) from exc
    took = sum(t.total_s for t in outcome.timings)
    _say(
        f"done: {len(outcome.timings)} replaced in {took:.1f}s,"
        f" {len(outcome.skipped)} already on it"
    )


def canary(
    version: str = typer.Argument(None, help="a git ref, or `--source`"),
    source: Path = typer.Option(None, "--source", help="a source tree instead of a git ref"),
    weight: int = typer.Option(10, min=1, max=99, help="percent of the API requests"),
    window: str = typer.Option("60s", help="how long the canary is judged"),
    max_error_ratio: float = typer.Option(
        0.01, help="5xx share the canary may have above the stable one's"
    ),
    max_p95_ratio: float = typer.Option(1.5, help="canary p95 / stable p95 allowed"),
    min_requests: int = typer.Option(20, help="fewer canary requests: rolled back"),
    abort: bool = typer.Option(False, "--abort", help="remove a canary left running"),
) -> None:
    """One extra instance on VERSION takes WEIGHT % of the requests; its 5xx share and p95 are
    compared with the stable instances' from Prometheus; promoted (released) or removed."""
    settings = get_settings()
    layout = layout_for(settings)
    if abort:
        canary_mod.remove(settings, layout, _say)
        return
    target = _prepare(version, source)
    if target is None:
        raise typer.BadParameter("a canary needs a git ref or --source (not the checkout)")
    limits = canary_mod.Limits(
        max_error_ratio=max_error_ratio, max_p95_ratio=max_p95_ratio, min_requests=min_requests
    )
    try:
        report = canary_mod.run(
            settings,
            layout,
            target,
            weight=weight,
            window_s=_seconds(window),
            limits=limits,
            say=_say,
        )
    except ReleaseError as exc:
        typer.echo(f"release: ERROR: {exc}", err=True)
        raise typer.Exit(1) from exc
    for line in report.lines():
        typer.echo(line)
    if report.decision.action != "promote":
        raise typer.Exit(2)
