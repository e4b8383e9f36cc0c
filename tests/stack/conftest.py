"""Helpers for tests that drive the running stack: supervisorctl and nginx's access log."""

from __future__ import annotations

import asyncio
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


async def get_as_a_browser_does(http: httpx.AsyncClient, path: str) -> httpx.Response:
    """GET `path`, sent once more when the server closed the kept-alive connection without an
    answer. nginx's reload (a release, arming the fault proxy) closes its old workers' idle
    connections, and one may close just as a request goes out on it; clients resend an
    idempotent request then (RFC 9112, 9.3.1), and so do browsers. Once only: a second
    close is a failure."""
    try:
        return await http.get(path)
    except httpx.RemoteProtocolError:
        return await http.get(path)


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


async def wait_nginx_uses_every_instance(stack_url: str, layout: Layout) -> None:
    """After a restart nginx keeps an instance out until its fail_timeout passes: wait until
    requests through nginx reach every instance again (seen in the access log)."""
    deadline = time.monotonic() + 60  # a loaded 2-core machine starts an instance in ~10 s
    while time.monotonic() < deadline:
        marker = f"rejoin-{time.monotonic_ns()}"
        async with httpx.AsyncClient(base_url=stack_url) as http:
            for i in range(10):
                await http.get("/healthz", headers={"X-Request-ID": f"{marker}-{i}"})
        await asyncio.sleep(1.2)  # the access log is flushed every second
        # Only answered requests count: a refused one logs the group's name ("api") instead.
        served = {e["upstream"] for e in access_log_entries(layout, marker) if e["status"] == 200}
        if len(served) >= 2:
            return
    raise AssertionError("nginx did not route to every instance again")
