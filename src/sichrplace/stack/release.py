"""`sichrplace stack release`: a version onto the running stack without dropping a request.

The release is prepared once (stack/releases.py), its migrations run (expand-only changes
suit both versions, as on Kubernetes, where the migration Job runs before the rollout), then
the API instances are replaced one at a time (stack/rolling.py) and the workers after them.
An instance that does not become ready within the bound stops the release: it and every
instance already replaced go back to the version they ran, and the release fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from sichrplace.config import Settings
from sichrplace.stack import releases, rolling
from sichrplace.stack.layout import Layout
from sichrplace.stack.releases import Release, ReleaseError
from sichrplace.stack.render import api_ports, python_env
from sichrplace.stack.rolling import NotReady, Say, Timing

# Alembic's words when the database has a revision the release's migrations do not know:
# going back to an older version leaves the schema as it is (no downgrade in a rollback).
_UNKNOWN_REVISION = "Can't locate revision"


@dataclass
class Outcome:
    release: Release | None
    timings: list[Timing] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _set_program(layout: Layout, name: str, release_id: str | None) -> Callable[[], None]:
    def change() -> None:
        state = releases.load_state(layout)
        if release_id is None:
            state.programs.pop(name, None)
        else:
            state.programs[name] = release_id
        releases.save_state(layout, state)

    return change


def migrate(settings: Settings, release: Release | None, say: Say) -> None:
    """The release's `db upgrade` (the checkout's for the checkout)."""
    env = {**os.environ, **python_env(settings)}
    if release is not None:
        env |= release.env(settings)
    cli = str(Path(sys.executable).parent / "sichrplace")
    proc = subprocess.run(
        [cli, "db", "upgrade"], env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode == 0:
        return
    if _UNKNOWN_REVISION in proc.stderr:
        say("migrations: the database is ahead of this version's; left as it is")
        return
    raise ReleaseError(f"migrations failed: {proc.stderr.strip()[-2000:]}")


def _roll_back(
    settings: Settings,
    layout: Layout,
    done: list[tuple[str, int | None]],
    previous: dict[str, str | None],
    say: Say,
) -> None:
    """Each program of `done` (the failed one first) back to its previous release."""
    for name, port in reversed(done):
        change = _set_program(layout, name, previous[name])
        if port is None:
            timing = rolling.replace_worker(settings, layout, name, change)
        else:
            timing = rolling.replace_api(settings, layout, name, port, change)
        say(f"rolled back {timing.line()}")


def release(
    settings: Settings,
    layout: Layout,
    target: Release | None,
    say: Say = rolling.quiet,
    *,
    workers: bool = True,
    ready_timeout: float = rolling.READY_TIMEOUT_S,
    drain_timeout: float = rolling.DRAIN_TIMEOUT_S,
    warm_timeout: float = rolling.WARM_TIMEOUT_S,
    force: bool = False,
) -> Outcome:
    """Replace the APIs, then the workers, with `target` (None: the checkout)."""
    target_id = target.id if target else None
    state = releases.load_state(layout)
    apis = rolling.numbered(layout, "api")
    plan: list[tuple[str, int | None]] = list(
        zip(apis, api_ports(settings, len(apis)), strict=True)
    )
    if workers:
        plan += [(name, None) for name in rolling.numbered(layout, "worker")]
    previous = {name: state.programs.get(name) for name, _ in plan}
    outcome = Outcome(target)
    done: list[tuple[str, int | None]] = []
    for name, port in plan:
        if previous[name] == target_id and not force:
            outcome.skipped.append(name)
            say(f"{name}: already on {releases.describe(layout, target_id)}")
            continue
        change = _set_program(layout, name, target_id)
        done.append((name, port))
        try:
            if port is None:
                timing = rolling.replace_worker(
                    settings, layout, name, change, ready_timeout=ready_timeout
                )
            else:
                timing = rolling.replace_api(
                    settings,
                    layout,
                    name,
                    port,
                    change,
                    ready_timeout=ready_timeout,
                    drain_timeout=drain_timeout,
                    warm_timeout=warm_timeout,
                )
        except NotReady as exc:
            say(f"{exc}: rolling back {len(done)} program(s)")
            _roll_back(settings, layout, done, previous, say)
            raise ReleaseError(f"release aborted and rolled back: {exc}") from exc
        outcome.timings.append(timing)
        say(timing.line())
    return outcome


@dataclass(frozen=True)
class Running:
    """What a program runs: its release by the state, and what the live instance reports."""

    name: str
    release: str
    reported: str


def running(settings: Settings, layout: Layout) -> list[Running]:
    state = releases.load_state(layout)
    out = []
    apis = rolling.numbered(layout, "api")
    ports = dict(zip(apis, api_ports(settings, len(apis)), strict=True))
    if state.canary is not None:
        apis.append(releases.CANARY_PROGRAM)
        ports[releases.CANARY_PROGRAM] = releases.canary_port(settings)
    for name in [*apis, *rolling.numbered(layout, "worker")]:
        canary = state.canary if name == releases.CANARY_PROGRAM else None
        release_id = canary.release if canary else state.programs.get(name)
        reported = "-"
        if name in ports:
            try:
                resp = httpx.get(f"http://127.0.0.1:{ports[name]}/api/v1/version", timeout=2)
                reported = str(resp.json().get("git_sha", "?"))
            except (httpx.HTTPError, ValueError):
                reported = "no answer"
        out.append(Running(name, releases.describe(layout, release_id), reported))
    return out
