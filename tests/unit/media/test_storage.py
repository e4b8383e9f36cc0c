"""Atomic content-addressed writes."""

from __future__ import annotations

from pathlib import Path

from sichrplace.media.storage import write_atomic


def test_write_atomic_creates_once_and_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "ab" / "abc.webp"
    assert write_atomic(target, b"one") is True
    assert write_atomic(target, b"one") is False  # same content already there
    assert target.read_bytes() == b"one"
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)  # readable by nginx
    assert [p.name for p in target.parent.iterdir()] == ["abc.webp"]
