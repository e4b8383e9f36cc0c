"""Helpers for tests that drive the running stack: supervisorctl and nginx's access log."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from sichrplace.config import Settings
from sichrplace.stack.layout import Layout, layout_for


@pytest.fixture(scope="session")
def layout(settings: Settings) -> Layout:
    return layout_for(settings)


def ctl(layout: Layout, *args: str) -> str:
    supervisorctl = str(Path(sys.executable).parent / "supervisorctl")
    proc = subprocess.run(
        [supervisorctl, "-c", str(layout.supervisor_conf), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout


def program_pid(layout: Layout, name: str) -> int | None:
    out = ctl(layout, "pid", name).strip()
    return int(out) if out.isdigit() and out != "0" else None


def access_log_entries(layout: Layout, marker: str) -> list[dict[str, object]]:
    entries = []
    for line in (layout.logs / "nginx-access.log").read_text().splitlines():
        if marker in line:
            entries.append(json.loads(line))
    return entries


def wait_instances_serve(settings: Settings, stack_url: str, within: float = 60.0) -> None:
    """After API instances were started again: `supervisorctl start` returns after a second,
    long before an instance listens (its start-up takes 5-10 s on a busy machine), and nginx
    keeps an instance that failed out for its fail_timeout. Wait until each instance answers
    on its own port and ten requests in a row through nginx succeed."""
    ports = [settings.stack.api_base_port + i for i in range(settings.stack.api_instances)]
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            direct = all(httpx.get(f"http://127.0.0.1:{p}/healthz").is_success for p in ports)
            if direct and all(httpx.get(f"{stack_url}/healthz").is_success for _ in range(10)):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("the API instances did not serve again in time")
