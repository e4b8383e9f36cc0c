"""The edge program's pure parts: following a log across rotations and restarts, parsing its
two logs, and the hit ratio from nginx's access log."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from sichrplace.platform.edge.local import key_hash
from sichrplace.stack.edge.hits import EdgeShares, LogWindow, count_statuses
from sichrplace.stack.edge.program import parse_fill, parse_view
from sichrplace.stack.edge.tail import LogFollower


def _append(path: Path, text: str) -> None:
    with path.open("a") as fh:
        fh.write(text)


def test_a_new_follower_starts_at_the_end_and_waits_for_whole_lines(tmp_path: Path) -> None:
    log = tmp_path / "edge.log"
    log.write_text("old 1\nold 2\n")
    follower = LogFollower(log, tmp_path / "pos")
    assert follower.read_lines() == []
    _append(log, "new 1\nnew")
    assert follower.read_lines() == [b"new 1"]
    _append(log, " 2\n")
    assert follower.read_lines() == [b"new 2"]


def test_a_restarted_follower_goes_on_where_it_stopped(tmp_path: Path) -> None:
    log, pos = tmp_path / "edge.log", tmp_path / "pos"
    log.write_text("")
    first = LogFollower(log, pos)
    first.read_lines()
    _append(log, "a\nb\n")
    assert first.read_lines() == [b"a", b"b"]
    first.close()
    _append(log, "c\n")  # written while the program was down
    assert LogFollower(log, pos).read_lines() == [b"c"]


def test_rotation_reads_the_old_file_to_its_end_then_the_new_one(tmp_path: Path) -> None:
    log = tmp_path / "edge.log"
    log.write_text("")
    follower = LogFollower(log, tmp_path / "pos")
    follower.read_lines()
    _append(log, "before\n")
    os.rename(log, tmp_path / "edge.log.1")  # stack rotate-logs; nginx still writes the old
    _append(tmp_path / "edge.log.1", "late\n")
    log.write_text("after\n")  # nginx reopened its logs
    assert follower.read_lines() == [b"before", b"late", b"after"]
    _append(log, "more\n")
    assert follower.read_lines() == [b"more"]


def test_a_log_that_appears_later_is_read_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "edge.log"
    follower = LogFollower(log, tmp_path / "pos")
    assert follower.read_lines() == []
    log.write_text("first\n")
    assert follower.read_lines() == [b"first"]


def test_parse_view_takes_the_listing_of_a_detail_line() -> None:
    listing = uuid.uuid4()
    assert parse_view(f"1765090000.123 /api/v1/listings/{listing}".encode()) == listing
    assert parse_view(b"1765090000.123 /api/v1/listings/popular") is None
    assert parse_view(b"garbage") is None


def test_parse_fill_hashes_the_cache_key_and_dates_the_request() -> None:
    key = "127.0.0.1/api/v1/listings/x?y=1|de"
    line = json.dumps(
        {"key": key, "keys": "listing-x listings", "msec": 1765090000.5, "request_time": 0.25}
    )
    fill = parse_fill(line.encode())
    assert fill is not None
    assert fill.digest == key_hash(key)
    assert fill.keys == ("listing-x", "listings")
    assert fill.started_ms == 1765090000250
    no_keys = {"key": key, "keys": "", "msec": 1, "request_time": 0}
    assert parse_fill(json.dumps(no_keys).encode()) is None
    assert parse_fill(b"{broken") is None


def _entry(uri: str, cache: str) -> bytes:
    return json.dumps({"uri": uri, "status": 200, "cache": cache}).encode()


def test_hit_ratio_of_a_window_of_the_access_log(tmp_path: Path) -> None:
    log = tmp_path / "nginx-access.log"
    log.write_bytes(_entry("/before", "MISS") + b"\n")
    window = LogWindow(log)
    lines = [_entry("/a", "HIT")] * 3 + [_entry("/a", "MISS"), _entry("/other", "HIT")]
    _append(log, b"\n".join(lines).decode() + "\n")
    shares = window.statuses(["/a"])
    assert shares is not None
    assert shares.counts == {"HIT": 3, "MISS": 1}
    assert shares.hit_ratio == 0.75
    assert count_statuses([_entry("/healthz", "")]) == {"-": 1}
    assert EdgeShares({}).hit_ratio == 0.0


def test_a_rotated_access_log_gives_no_figures(tmp_path: Path) -> None:
    log = tmp_path / "nginx-access.log"
    log.write_text("x\n")
    window = LogWindow(log)
    os.rename(log, tmp_path / "nginx-access.log.1")
    log.write_text("")
    assert window.statuses() is None
