"""The edge (the local CDN, or a real one): surrogate keys on cacheable answers, and purging
them after a change commits.

    from sichrplace.platform import edge

    headers = edge.surrogate_header(["listing-<id>"])   # on a cacheable answer
    edge.purge_soon(["listing-<id>"], again_after=0.7)  # after commit (a background task)

A response names what it shows in `Surrogate-Key` (space-separated, Fastly's convention);
the edge indexes its cached answers by those keys, and a purge of a key drops every answer
that carries it. The purgers (`Purger`: the local edge's in `platform/edge/local.py`, Fastly's
in `integrations/cdn`) are chosen by the composition root, which installs one `EdgePurges`
per process: like the analytics buffer (platform/analytics), the changes that must purge
happen deep in services run by requests and jobs alike. Without one, purging does nothing.

Why a purge runs twice: the first right after the change's own cache work, the second once
the replica and the other instances' near caches have caught up (`again_after`): a miss that
reached the API in between may have been answered from a copy that did not show the change
yet, and the edge would keep it for its whole s-maxage.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from typing import Protocol

import structlog
from prometheus_client import Counter, Histogram

log = structlog.get_logger(__name__)

SURROGATE_KEY = "Surrogate-Key"

PURGES = Counter(
    "sichrplace_edge_purges_total",
    "Purge requests sent to an edge, by purger and outcome (ok | failed).",
    ["purger", "outcome"],
)
PURGE_SECONDS = Histogram(
    "sichrplace_edge_purge_seconds",
    "Time one purge request took, retries included.",
    ["purger"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


class Purger(Protocol):
    """Drops every cached answer carrying any of `keys` (raises when it could not)."""

    name: str

    async def purge(self, keys: Sequence[str]) -> None: ...

    async def aclose(self) -> None: ...


def surrogate_header(keys: Iterable[str]) -> dict[str, str]:
    return {SURROGATE_KEY: " ".join(keys)}


class EdgePurges:
    """The process's purgers, and the background purges in flight (waited for on close)."""

    def __init__(self, purgers: Sequence[Purger], *, close_wait_seconds: float = 3.0) -> None:
        self.purgers = list(purgers)
        self._close_wait = close_wait_seconds
        self._tasks: set[asyncio.Task[None]] = set()

    def purge_soon(self, keys: Sequence[str], *, again_after: float | None = None) -> None:
        """Purge `keys` at every purger now, in the background, and again after `again_after`
        seconds when given; never raises (a failure is logged and counted: the answers then
        live until their s-maxage)."""
        if not self.purgers or not keys:
            return
        task = asyncio.get_running_loop().create_task(self._run(tuple(keys), again_after))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def purge_now(self, keys: Sequence[str]) -> bool:
        """Purge `keys` at every purger at once; whether all of them succeeded."""
        results = await asyncio.gather(*(self._one(p, tuple(keys)) for p in self.purgers))
        return all(results)

    async def _run(self, keys: tuple[str, ...], again_after: float | None) -> None:
        await self.purge_now(keys)
        if again_after is not None:
            await asyncio.sleep(again_after)
            await self.purge_now(keys)

    async def _one(self, purger: Purger, keys: tuple[str, ...]) -> bool:
        started = time.perf_counter()
        try:
            await purger.purge(keys)
        except Exception as exc:
            PURGES.labels(purger.name, "failed").inc()
            log.warning("edge_purge_failed", purger=purger.name, keys=list(keys), error=repr(exc))
            return False
        finally:
            PURGE_SECONDS.labels(purger.name).observe(time.perf_counter() - started)
        PURGES.labels(purger.name, "ok").inc()
        return True

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def aclose(self) -> None:
        """Let the purges in flight finish (a bounded wait), then close the purgers."""
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=self._close_wait)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        for purger in self.purgers:
            await purger.aclose()


# The installed purges, the newest last (tests may run an app and a worker in one process).
_installed: list[EdgePurges] = []


def install(purges: EdgePurges) -> None:
    _installed.append(purges)


def uninstall(purges: EdgePurges) -> None:
    if purges in _installed:
        _installed.remove(purges)


def current() -> EdgePurges | None:
    return _installed[-1] if _installed else None


def purge_soon(keys: Sequence[str], *, again_after: float | None = None) -> None:
    """Purge `keys` at the process's edge purgers in the background (after a commit)."""
    purges = current()
    if purges is not None:
        purges.purge_soon(keys, again_after=again_after)


__all__ = [
    "PURGES",
    "SURROGATE_KEY",
    "EdgePurges",
    "Purger",
    "current",
    "install",
    "purge_soon",
    "surrogate_header",
    "uninstall",
]
