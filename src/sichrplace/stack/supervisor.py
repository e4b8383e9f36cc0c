"""Talk to the stack's supervisord: start it, start/stop programs, read their state."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sichrplace.stack.layout import Layout


@dataclass(frozen=True)
class ProgramState:
    name: str
    state: str
    description: str


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def supervisord_pid(layout: Layout) -> int | None:
    pidfile = layout.run / "supervisord.pid"
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None
    return pid


def ensure_supervisord(layout: Layout) -> None:
    if supervisord_pid(layout) is not None:
        ctl(layout, "reread")
        ctl(layout, "update")
        return
    subprocess.run([_bin("supervisord"), "-c", str(layout.supervisor_conf)], check=True)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if (layout.run / "supervisor.sock").exists() and supervisord_pid(layout):
            return
        time.sleep(0.1)
    raise TimeoutError("supervisord did not start")


def ctl(layout: Layout, *args: str, check: bool = False) -> str:
    proc = subprocess.run(
        [_bin("supervisorctl"), "-c", str(layout.supervisor_conf), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if check and proc.returncode not in (0,):
        raise RuntimeError(f"supervisorctl {' '.join(args)}: {proc.stdout}{proc.stderr}")
    return proc.stdout


def states(layout: Layout) -> list[ProgramState]:
    if supervisord_pid(layout) is None:
        return []
    out: list[ProgramState] = []
    for line in ctl(layout, "status").splitlines():
        parts = line.split(None, 2)
        if len(parts) >= 2:
            out.append(ProgramState(parts[0], parts[1], parts[2] if len(parts) > 2 else ""))
    return out


def state_of(layout: Layout, name: str) -> str:
    for prog in states(layout):
        if prog.name == name:
            return prog.state
    return "UNKNOWN"


def start(layout: Layout, *names: str) -> None:
    todo = [n for n in names if state_of(layout, n) != "RUNNING"]
    if todo:
        out = ctl(layout, "start", *todo)
        failed = [line for line in out.splitlines() if "ERROR" in line and "already" not in line]
        if failed:
            raise RuntimeError("; ".join(failed))


def start_together(layout: Layout, *names: str) -> None:
    """Start programs at once: `supervisorctl start a b` waits for each in turn (a startsecs
    apiece), one supervisorctl per program lets supervisord wait for all of them together."""
    todo = [n for n in names if state_of(layout, n) != "RUNNING"]
    procs = [
        subprocess.Popen(
            [_bin("supervisorctl"), "-c", str(layout.supervisor_conf), "start", name],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name in todo
    ]
    failed = []
    for proc in procs:
        out, _ = proc.communicate()
        failed += [line for line in out.splitlines() if "ERROR" in line and "already" not in line]
    if failed:
        raise RuntimeError("; ".join(failed))


def stop(layout: Layout, *names: str) -> None:
    ctl(layout, "stop", *names)


def shutdown(layout: Layout, timeout: float = 90) -> None:
    pid = supervisord_pid(layout)
    if pid is None:
        return
    ctl(layout, "shutdown")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    raise TimeoutError("supervisord did not exit")
