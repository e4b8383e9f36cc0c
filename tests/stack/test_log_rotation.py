"""nginx writes to a fresh file after its logs rotate (how generations shift:
tests/unit/stack/test_logs.py)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from sichrplace.stack.layout import Layout
from tests.stack.conftest import access_log_entries


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
