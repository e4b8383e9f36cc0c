"""Log generations shift: the newest kept, the oldest dropped, an empty log left alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from sichrplace.stack.logs import shift


def test_shift_keeps_the_newest_generations(tmp_path: Path) -> None:
    log = tmp_path / "nginx-access.log"
    for text in ("oldest", "older", "old", "current"):
        if log.exists():
            assert shift(log, keep=2)
        log.write_text(text)
    assert log.read_text() == "current"
    assert (tmp_path / "nginx-access.log.1").read_text() == "old"
    assert (tmp_path / "nginx-access.log.2").read_text() == "older"
    assert not (tmp_path / "nginx-access.log.3").exists()  # "oldest" dropped


def test_shift_leaves_a_missing_or_empty_log(tmp_path: Path) -> None:
    log = tmp_path / "nginx-access.log"
    assert not shift(log, keep=3)
    log.touch()
    assert not shift(log, keep=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nginx-access.log"]
    with pytest.raises(ValueError, match="at least one"):
        shift(log, keep=0)
