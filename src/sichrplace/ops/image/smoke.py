"""The image's smoke run: the API from the image, as the Kubernetes pods run it (user 10001,
read-only root filesystem, a tmpfs at /tmp), against the local stack's PgBouncer and Redis.

It passes when /readyz answers 200, a search answers 200 with listings, the process runs as
10001, / cannot be written while /tmp can, `sichrplace db current` finds the migrations and
the schema at head, the image's own HEALTHCHECK passes, and the container stops on SIGTERM
within its grace period.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from sichrplace.config import Settings
from sichrplace.ops.image.layout import IMAGE, run

# Paths inside the container (its tmpfs), not the host's temporary folder.
TMPFS = "/tmp:rw,size=64m,mode=1777"  # noqa: S108
TMP_PROBE = "/tmp/smoke"  # noqa: S108
SEARCH_PATH = "/api/v1/search/listings?city=Berlin&limit=5"
USER = "10001"
STOP_SECONDS = 30  # uvicorn's graceful timeout; the drain before it is seconds


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def container_env(settings: Settings, port: int) -> dict[str, str]:
    """What the API in the container needs to reach the stack (the host's network: the same
    addresses the stack's own API instances use). The password travels in podman's
    environment (`--env NAME`), not on its command line."""
    db = settings.db
    return {
        "SICHRPLACE_DB_HOST": db.host,
        "SICHRPLACE_DB_PORT": str(db.port),
        "SICHRPLACE_DB_DIRECT_PORT": str(db.direct_port),
        "SICHRPLACE_DB_NAME": db.name,
        "SICHRPLACE_DB_REPLICA_NAME": db.replica_name,
        "SICHRPLACE_DB_USER": db.user,
        "SICHRPLACE_DB_PASSWORD": db.password.get_secret_value(),
        "SICHRPLACE_REDIS_URL": settings.redis.url,
        "SICHRPLACE_SMTP_PORT": str(settings.smtp.port),
        "SICHRPLACE_APP_ENVIRONMENT": settings.app.environment,
        # No collector is assumed: spans would only queue.
        "SICHRPLACE_TRACING_ENABLED": "false",
        "SICHRPLACE_HEALTHCHECK_PORT": str(port),
    }


def run_command(image: str, name: str, port: int, env: Mapping[str, str]) -> list[str]:
    cmd = [
        "podman", "run", "--detach", "--name", name,
        "--read-only", "--tmpfs", TMPFS,
        "--user", USER, "--network", "host",
        # podman would schedule the healthcheck with systemd timers (none here); it is run
        # once by hand below.
        "--health-interval", "disable",
    ]  # fmt: skip
    for key in sorted(env):
        cmd += ["--env", key]
    return [*cmd, image, "serve", "--host", "127.0.0.1", "--port", str(port)]


def _running(name: str, env: Mapping[str, str]) -> bool:
    state = run(["podman", "inspect", "--format", "{{.State.Running}}", name], env=env, check=False)
    return state.stdout.strip() == "true"


def _wait_ready(base: str, timeout: float, alive: Callable[[], bool]) -> tuple[bool, str]:
    deadline = time.monotonic() + timeout
    last = "no answer"
    with httpx.Client(timeout=3.0) as client:
        while time.monotonic() < deadline:
            if not alive():
                return False, f"the container exited ({last})"
            try:
                response = client.get(f"{base}/readyz")
                last = f"{response.status_code} {response.text[:200]}"
                if response.status_code == 200:
                    return True, last
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            time.sleep(0.5)
    return False, last


def smoke(
    image: str,
    settings: Settings,
    podman_env: Mapping[str, str],
    *,
    timeout: float = 90.0,
    port: int | None = None,
) -> tuple[list[Check], str]:
    """Run the checks; returns them and the container's log (for a failure's report)."""
    port = port or free_port()
    name = f"sichrplace-smoke-{port}"
    app_env = container_env(settings, port)
    env = {**podman_env, **app_env}
    checks: list[Check] = []
    started = time.monotonic()
    run(["podman", "rm", "--force", name], env=env, check=False)
    run(run_command(image, name, port, app_env), env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        ready, detail = _wait_ready(base, timeout, lambda: _running(name, env))
        checks.append(Check("readyz", ready, f"{detail} after {time.monotonic() - started:.1f} s"))
        if ready:
            response = httpx.get(base + SEARCH_PATH, timeout=10.0)
            items = response.json().get("items", []) if response.status_code == 200 else []
            checks.append(
                Check(
                    "search",
                    response.status_code == 200 and len(items) > 0,
                    f"GET {SEARCH_PATH}: {response.status_code}, {len(items)} items",
                )
            )
        uid = run(["podman", "exec", name, "id", "-u"], env=env, check=False)
        checks.append(Check("user", uid.stdout.strip() == USER, f"id -u: {uid.stdout.strip()}"))
        root_write = run(["podman", "exec", name, "touch", "/smoke"], env=env, check=False)
        refused = (root_write.stderr + root_write.stdout).strip()
        checks.append(
            Check(
                "read-only root",
                root_write.returncode != 0 and "Read-only file system" in refused,
                refused[:120] or "writable!",
            )
        )
        tmp_write = run(["podman", "exec", name, "touch", TMP_PROBE], env=env, check=False)
        checks.append(Check("tmpfs /tmp", tmp_write.returncode == 0, f"touch {TMP_PROBE}"))
        # The migrations are in the image and reach the primary (the migrations Job's path).
        current = run(["podman", "exec", name, "sichrplace", "db", "current"], env=env, check=False)
        heads = [line for line in current.stdout.splitlines() if "(head)" in line]
        checks.append(
            Check(
                "migrations",
                current.returncode == 0 and bool(heads),
                f"db current: {heads[0] if heads else current.stderr.strip()[-100:]}",
            )
        )
        health = run(["podman", "healthcheck", "run", name], env=env, check=False)
        checks.append(
            Check(
                "healthcheck",
                health.returncode == 0,
                health.stdout.strip().splitlines()[-1] if health.stdout.strip() else "healthy",
            )
        )
    finally:
        stop_started = time.monotonic()
        stopped = run(["podman", "stop", "--time", str(STOP_SECONDS), name], env=env, check=False)
        stop_seconds = time.monotonic() - stop_started
        state = run(
            ["podman", "inspect", "--format", "{{.State.ExitCode}}", name], env=env, check=False
        )
        logs = run(["podman", "logs", name], env=env, check=False)
        run(["podman", "rm", "--force", name], env=env, check=False)
    checks.append(
        Check(
            "stop",
            stopped.returncode == 0 and stop_seconds < STOP_SECONDS and state.stdout.strip() == "0",
            f"SIGTERM to exit in {stop_seconds:.1f} s, exit code {state.stdout.strip()}",
        )
    )
    return checks, (logs.stdout + logs.stderr)[-6000:]


def default_image(tag: str) -> str:
    return f"{IMAGE}:{tag}"
