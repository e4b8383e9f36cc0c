"""platform/edge: the purges after a change (twice, in the background, failures contained),
the local edge's file layout, surrogate keys and s-maxage on public answers."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from sichrplace.listings import surrogate
from sichrplace.platform import edge
from sichrplace.platform.edge.local import cache_file, index_window_seconds, key_hash, remove_files
from sichrplace.platform.http import conditional


class Recorder:
    def __init__(self, name: str = "rec", fail: bool = False) -> None:
        self.name = name
        self.fail = fail
        self.calls: list[tuple[str, ...]] = []
        self.closed = False

    async def purge(self, keys: Sequence[str]) -> None:
        self.calls.append(tuple(keys))
        if self.fail:
            raise RuntimeError("edge down")

    async def aclose(self) -> None:
        self.closed = True


async def test_a_purge_runs_now_and_again_after_the_lag() -> None:
    local, cdn = Recorder("local"), Recorder("cdn")
    purges = edge.EdgePurges([local, cdn])
    purges.purge_soon(["listing-1"], again_after=0.05)
    await asyncio.sleep(0.01)
    assert local.calls == cdn.calls == [("listing-1",)]
    await asyncio.sleep(0.1)
    assert local.calls == [("listing-1",), ("listing-1",)]
    assert purges.pending == 0
    await purges.aclose()
    assert local.closed
    assert cdn.closed


async def test_a_failing_purger_is_logged_and_counted_never_raised() -> None:
    bad, good = Recorder("bad-test", fail=True), Recorder("good-test")
    purges = edge.EdgePurges([bad, good])
    before = edge.PURGES.labels("bad-test", "failed")._value.get()
    with capture_logs() as logs:
        assert not await purges.purge_now(["listing-2"])
    assert good.calls == [("listing-2",)]  # the other purger still purged
    assert edge.PURGES.labels("bad-test", "failed")._value.get() == before + 1
    assert [e["event"] for e in logs] == ["edge_purge_failed"]


async def test_the_installed_purges_are_used_and_none_is_a_no_op(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The whole suite runs in one process: an app made by an earlier test may have installed
    # its purges (Redis-backed), which this fast-tier test must neither see nor call.
    monkeypatch.setattr(edge, "_installed", [])
    edge.purge_soon(["listing-3"])  # nothing installed: nothing happens
    rec = Recorder()
    purges = edge.EdgePurges([rec])
    edge.install(purges)
    try:
        edge.purge_soon(["listing-3"])
        await asyncio.sleep(0.01)
    finally:
        edge.uninstall(purges)
    assert rec.calls == [("listing-3",)]


async def test_close_waits_for_purges_in_flight() -> None:
    rec = Recorder()
    purges = edge.EdgePurges([rec], close_wait_seconds=1.0)
    purges.purge_soon(["listing-4"], again_after=0.05)
    await purges.aclose()
    assert rec.calls == [("listing-4",), ("listing-4",)]


def test_cache_files_follow_nginx_levels_1_2() -> None:
    # nginx's own example (proxy_cache_path, levels=1:2).
    digest = "b7f54b2df7773722d382f4809d65029c"
    assert cache_file(Path("/data/nginx/cache"), digest) == Path(
        "/data/nginx/cache/c/29/b7f54b2df7773722d382f4809d65029c"
    )
    key = "127.0.0.1/api/v1/listings/x|de"
    assert key_hash(key) == hashlib.md5(key.encode(), usedforsecurity=False).hexdigest()


def test_remove_files_counts_what_existed(tmp_path: Path) -> None:
    present, absent = key_hash("a"), key_hash("b")
    path = cache_file(tmp_path, present)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"cached")
    assert remove_files(tmp_path, [present, absent]) == 1
    assert not path.exists()


def test_the_index_window_covers_the_longest_shared_max_age() -> None:
    assert index_window_seconds(10, 60) == 300
    assert index_window_seconds(10, 900) == 900


def test_surrogate_keys() -> None:
    assert surrogate.listing("0d7f") == "listing-0d7f"
    assert surrogate.lists() == ("listings",)
    assert surrogate.lists("munchen") == ("listings", "city-munchen")
    assert surrogate.of_city_name("  MÜNCHEN ") == "city-munchen"
    assert surrogate.city("halle saale") == "city-halle_saale"  # no space inside a key
    assert edge.surrogate_header(["a", "b"]) == {"Surrogate-Key": "a b"}


@pytest.mark.parametrize(
    ("max_age", "shared", "expected"),
    [
        (10, None, "public, max-age=10"),
        (10, 10, "public, max-age=10"),
        (10, 300, "public, max-age=10, s-maxage=300"),
    ],
)
def test_public_cache_control_with_a_shared_max_age(
    max_age: int, shared: int | None, expected: str
) -> None:
    assert conditional.public(max_age, shared) == expected
    assert conditional.is_public(expected)
    assert not conditional.is_public(conditional.PRIVATE_NO_CACHE)
