"""Worker and sink subprocesses for tests, plus small polling helpers over the jobs tables."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import text
from typer.testing import CliRunner

from sichrplace.config import PROJECT_ROOT
from sichrplace.platform.db.engines import Database

CLI = str(Path(sys.executable).parent / "sichrplace")
TEST_TASKS_MODULE = "tests.platform.jobs.tasks_for_tests"

# Short timings: heartbeat 4x per second, a silent worker is stalled after 1.5 s, recovery
# every second, backoff 0.3 s, 0.6 s, ... without jitter.
FAST_ENV = {
    "SICHRPLACE_JOBS_POLL_INTERVAL_SECONDS": "0.2",
    "SICHRPLACE_JOBS_HEARTBEAT_INTERVAL_SECONDS": "0.25",
    "SICHRPLACE_JOBS_STALLED_TIMEOUT_SECONDS": "1.5",
    "SICHRPLACE_JOBS_RECOVERY_INTERVAL_SECONDS": "1",
    "SICHRPLACE_JOBS_BACKOFF_BASE_SECONDS": "0.3",
    "SICHRPLACE_JOBS_BACKOFF_JITTER": "0",
    "SICHRPLACE_JOBS_MAX_ATTEMPTS": "3",
    "SICHRPLACE_JOBS_SHUTDOWN_TIMEOUT_SECONDS": "10",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Proc:
    """A CLI subprocess with its output in a file; `stop()` always leaves it dead."""

    def __init__(self, args: Sequence[str], log_path: Path, env: Mapping[str, str]) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.popen = subprocess.Popen(
            [CLI, *args],
            cwd=PROJECT_ROOT,
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def wait_output(self, needle: str, within: float = 20) -> None:
        deadline = time.monotonic() + within
        while needle not in self.output():
            if self.popen.poll() is not None:
                raise AssertionError(f"exited {self.popen.returncode}:\n{self.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {needle!r} within {within}s:\n{self.output()[-3000:]}")
            await asyncio.sleep(0.05)

    def signal(self, sig: signal.Signals) -> None:
        self.popen.send_signal(sig)

    async def wait_exit(self, within: float) -> int:
        deadline = time.monotonic() + within
        while (code := self.popen.poll()) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"still running after {within}s:\n{self.output()[-3000:]}")
            await asyncio.sleep(0.05)
        return code

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self._log.close()


def start_worker(queue: str, log_path: Path, **env: str) -> Proc:
    """`sichrplace jobs worker` on `queue` only, with fast timings and the test tasks."""
    python_path = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
    worker_env = {
        **FAST_ENV,
        "PYTHONPATH": python_path,
        "SICHRPLACE_JOBS_IMPORT_PATHS": f'["{TEST_TASKS_MODULE}"]',
        "SICHRPLACE_JOBS_MAINTENANCE_QUEUE": queue,
        **env,
    }
    return Proc(["jobs", "worker", "--queues", queue, "--concurrency", "2"], log_path, worker_env)


async def worker_ready(proc: Proc) -> None:
    await proc.wait_output("Starting worker on")


def start_sink(port: int, directory: Path, log_path: Path) -> Proc:
    args = ["mail", "sink", "--host", "127.0.0.1", "--port", str(port), "--dir", str(directory)]
    return Proc(args, log_path, {})


async def sink_ready(proc: Proc) -> None:
    await proc.wait_output("mail_sink_listening")


async def run_cli(*args: str) -> tuple[int, str]:
    """`sichrplace ARGS` in-process (a fresh thread and event loop): the admin commands are
    plain request/response, and a subprocess would spend seconds importing the package."""
    from sichrplace.cli.main import app

    result = await asyncio.to_thread(CliRunner().invoke, app, list(args))
    return result.exit_code, result.output


async def fetch(db: Database, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with db.primary.connect() as conn:
        result = await conn.execute(text(sql), params)
        return [dict(row) for row in result.mappings()]


async def job(db: Database, job_id: int) -> dict[str, Any] | None:
    rows = await fetch(
        db,
        "SELECT id, status::text AS status, attempts, worker_id, queue_name, args, scheduled_at"
        " FROM procrastinate_jobs WHERE id = :id",
        id=job_id,
    )
    return rows[0] if rows else None


async def wait_status(db: Database, job_id: int, status: str, within: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        row = await job(db, job_id)
        if row is not None and row["status"] == status:
            return row
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} not {status} within {within}s: {row}")
        await asyncio.sleep(0.05)


async def job_errors(db: Database, job_id: int) -> list[dict[str, Any]]:
    return await fetch(
        db, "SELECT attempt, error, at FROM job_errors WHERE job_id = :id ORDER BY id", id=job_id
    )


async def events(db: Database, job_id: int) -> list[dict[str, Any]]:
    return await fetch(
        db,
        "SELECT type::text AS type, at FROM procrastinate_events WHERE job_id = :id ORDER BY id",
        id=job_id,
    )
