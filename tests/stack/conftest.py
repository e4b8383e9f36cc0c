"""Helpers for tests that drive the running stack: supervisorctl and nginx's access log."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
