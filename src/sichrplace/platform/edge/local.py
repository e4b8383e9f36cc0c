"""The local edge's purge by surrogate key: nginx's proxy cache has no purge by tag (and nginx
OSS none at all), so the edge keeps an index of its own and deletes the cache files.

The index: nginx logs each answer it stores (the cache key and the response's
`Surrogate-Key`) to a log the stack's `edge` program tails into Redis sets of entry hashes
per key and time window, `edge:tag:<key>:<window>` (`index_fills`). An entry's file is
`<cache dir>/<levels>/<md5 of its cache key>` (nginx's layout for `levels=1:2`: the last hex
digit, then the two before it); nginx takes a missing file for a miss and fetches the answer
again. A purge (`LocalEdgePurger`) marks each key purged (`edge:purged:<key>`, with the
time), takes the hashes of the current and the previous window and deletes their files.

Why the mark: a fill whose log line is indexed after the purge (nginx writes the line when
the answer is complete; the program reads it a moment later), or whose request began before
the purge and was answered from the old data, would escape it. The index script checks the
mark and deletes such a fill's file instead of indexing it, atomically with the purge's own
read of the sets (both are single Redis commands: the script, and MULTI), so no fill falls
between them.

Windows of `index_window_seconds`, each set expiring as a whole, bound the index: the sets of
broad keys (`listings`, every search page) would otherwise keep the hashes of entries long
evicted. A purge looks at two windows, so every entry stored within the last window is found;
entries live at most their s-maxage, which the window is at least.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis

TAG_PREFIX = "edge:tag:"
PURGED_PREFIX = "edge:purged:"
# Longer than a request may take (nginx's proxy_read_timeout, 60 s) plus the index's delay.
PURGED_TTL_SECONDS = 180
LEVELS = (1, 2)  # nginx's `levels=1:2`
_INLINE_UNLINKS = 16  # more files than this are deleted in a thread, off the event loop
_CHUNK_ARGS = 4000


def key_hash(cache_key: str) -> str:
    """The name nginx gives an entry's file: the MD5 of its cache key, in hex."""
    return hashlib.md5(cache_key.encode(), usedforsecurity=False).hexdigest()


def cache_file(cache_dir: Path, digest: str, levels: Sequence[int] = LEVELS) -> Path:
    """Where nginx keeps the entry whose key hashes to `digest` (levels from its end)."""
    path, end = cache_dir, len(digest)
    for width in levels:
        path = path / digest[end - width : end]
        end -= width
    return path / digest


def remove_files(cache_dir: Path, digests: Iterable[str], levels: Sequence[int] = LEVELS) -> int:
    """Delete the entries' files; how many existed."""
    removed = 0
    for digest in digests:
        try:
            cache_file(cache_dir, digest, levels).unlink()
        except FileNotFoundError:
            continue
        removed += 1
    return removed


def window_of(epoch_seconds: float, window_seconds: int) -> int:
    return int(epoch_seconds // window_seconds)


@dataclass(frozen=True, slots=True)
class Fill:
    """An answer nginx stored: its cache key's hash, when its request began (epoch ms), and
    the surrogate keys it carries."""

    digest: str
    started_ms: int
    keys: tuple[str, ...]


# ARGV: the window, the sets' TTL, then per fill: hash, start (ms), n, n keys. Returns the
# hashes of fills that a purge of one of their keys may have missed (to be deleted).
_INDEX = """
local window, ttl = ARGV[1], tonumber(ARGV[2])
local stale = {}
local i = 3
while i <= #ARGV do
  local digest, started, n = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local purged = false
  for j = 1, n do
    local at = redis.call('GET', 'edge:purged:' .. ARGV[i + 2 + j])
    if at and tonumber(at) >= started then purged = true end
  end
  if purged then
    stale[#stale + 1] = digest
  else
    for j = 1, n do
      local set = 'edge:tag:' .. ARGV[i + 2 + j] .. ':' .. window
      redis.call('SADD', set, digest)
      redis.call('EXPIRE', set, ttl)
    end
  end
  i = i + 3 + n
end
return stale
"""


async def index_fills(
    redis: aioredis.Redis, fills: Sequence[Fill], *, window_seconds: int, now: float | None = None
) -> list[str]:
    """Add stored answers to the index; the hashes of those to delete instead (their request
    began before a purge of one of their keys)."""
    window = window_of(time.time() if now is None else now, window_seconds)
    script = redis.register_script(_INDEX)
    stale: list[str] = []
    args: list[str | int] = []
    for fill in fills:
        args += [fill.digest, fill.started_ms, len(fill.keys), *fill.keys]
        if len(args) >= _CHUNK_ARGS:
            stale += await _run_index(script, window, window_seconds, args)
            args = []
    if args:
        stale += await _run_index(script, window, window_seconds, args)
    return stale


async def _run_index(
    script: object, window: int, window_seconds: int, args: list[str | int]
) -> list[str]:
    # Two windows and a margin: a set lives as long as a purge may look into it.
    ttl = 2 * window_seconds + 60
    found = await script(keys=[], args=[window, ttl, *args])  # type: ignore[operator]
    return [d.decode() if isinstance(d, bytes) else str(d) for d in found]


class LocalEdgePurger:
    """Purges the local edge (nginx's cache files) by surrogate key through the index."""

    name = "local"

    def __init__(
        self,
        redis: aioredis.Redis,
        cache_dir: Path,
        *,
        window_seconds: int,
        levels: Sequence[int] = LEVELS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.cache_dir = cache_dir
        self._window = window_seconds
        self._levels = tuple(levels)
        self._clock = clock

    async def purge(self, keys: Sequence[str]) -> None:
        await self.purge_counted(keys)

    async def purge_counted(self, keys: Sequence[str]) -> int:
        """Purge `keys`; how many cached files were deleted."""
        now = self._clock()
        window = window_of(now, self._window)
        sets = [f"{TAG_PREFIX}{key}:{w}" for key in keys for w in (window, window - 1)]
        pipe = self.redis.pipeline(transaction=True)
        for key in keys:
            pipe.set(PURGED_PREFIX + key, int(now * 1000), ex=PURGED_TTL_SECONDS)
        for name in sets:
            pipe.smembers(name)
        pipe.delete(*sets)
        results = await pipe.execute()
        digests: set[str] = set()
        for members in results[len(keys) : len(keys) + len(sets)]:
            digests.update(m.decode() if isinstance(m, bytes) else m for m in members)
        return await self.remove(digests)

    async def remove(self, digests: Iterable[str]) -> int:
        found = list(digests)
        if len(found) <= _INLINE_UNLINKS:
            return remove_files(self.cache_dir, found, self._levels)
        return await asyncio.to_thread(remove_files, self.cache_dir, found, self._levels)

    async def aclose(self) -> None:
        return None


def index_window_seconds(*max_ages: int) -> int:
    """The index's window: at least the longest s-maxage an indexed answer may have (and
    five minutes, for the sitemap's)."""
    return max(300, *max_ages)


__all__ = [
    "LEVELS",
    "Fill",
    "LocalEdgePurger",
    "cache_file",
    "index_fills",
    "index_window_seconds",
    "key_hash",
    "remove_files",
    "window_of",
]
