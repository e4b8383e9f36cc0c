"""nginx's own logs rotate: generations shift, and nginx writes to a fresh file afterwards."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from sichrplace.stack.layout import Layout
from sichrplace.stack.logs import shift
from tests.stack.conftest import access_log_entries


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


@pytest.mark.stack
async def test_rotate_logs_has_nginx_write_a_fresh_file(
    stack_url: str, layout: Layout, unique: str
) -> None:
    async def request(marker: str) -> None:
        async with httpx.AsyncClient(base_url=stack_url) as http:
            resp = await http.get("/healthz", headers={"X-Request-ID": marker})
            assert resp.status_code == 200
        await asyncio.sleep(1.5)  # the access log is flushed every second

    await request(f"before-rotation-{unique}")
    cli = str(Path(sys.executable).parent / "sichrplace")
    command = [cli, "stack", "rotate-logs", "--keep", "2"]
    out = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, check=True
    )
    assert "nginx-access.log" in out.stdout, out.stdout
    await request(f"after-rotation-{unique}")

    assert access_log_entries(layout, f"after-rotation-{unique}")
    assert not access_log_entries(layout, f"before-rotation-{unique}")
    rotated = (layout.logs / "nginx-access.log.1").read_text()
    assert f"before-rotation-{unique}" in rotated
    assert f"after-rotation-{unique}" not in rotated
