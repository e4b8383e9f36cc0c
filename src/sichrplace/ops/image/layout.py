"""Where the image's inputs (committed, deploy/image/) and outputs (build/image/) live, and
how its steps run commands."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sichrplace.config import PROJECT_ROOT

IMAGE = "localhost/sichrplace"


class ImageError(Exception):
    """A step of the image's build or check failed; the message says which and why."""


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def deploy(self) -> Path:
        return self.root / "deploy" / "image"

    @property
    def containerfile(self) -> Path:
        return self.deploy / "Containerfile"

    @property
    def requirements_lock(self) -> Path:
        return self.deploy / "requirements.lock"

    @property
    def tools_in(self) -> Path:
        return self.deploy / "tools.in"

    @property
    def tools_lock(self) -> Path:
        return self.deploy / "tools.lock"

    @property
    def audit_ignore(self) -> Path:
        return self.deploy / "audit-ignore.txt"

    @property
    def budget(self) -> Path:
        return self.deploy / "budget.json"

    @property
    def build(self) -> Path:
        return self.root / "build" / "image"

    @property
    def context(self) -> Path:
        return self.build / "context"

    @property
    def wheels(self) -> Path:
        """Every wheel of both locks, downloaded once and reused while the locks stay."""
        return self.build / "wheels"

    @property
    def containers_conf(self) -> Path:
        return self.build / "containers.conf"

    @property
    def sbom(self) -> Path:
        return self.build / "sbom.cdx.json"

    @property
    def vulnerabilities(self) -> Path:
        return self.build / "vulnerabilities.json"

    @property
    def pip_audit_raw(self) -> Path:
        return self.build / "pip-audit.json"

    @property
    def debian_packages(self) -> Path:
        return self.build / "debian-packages.txt"

    @property
    def report(self) -> Path:
        return self.build / "build.json"

    @property
    def log(self) -> Path:
        return self.build / "build.log"


def layout(root: Path = PROJECT_ROOT) -> Layout:
    return Layout(root)


def run(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    log: Path | None = None,
    check: bool = True,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `cmd`; with `log` its output is appended there (a long build's output is kept, not
    printed), else captured. A failure raises ImageError with the output's last lines."""
    full_env = dict(os.environ if env is None else env)
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as fh:
            fh.write(f"\n$ {' '.join(cmd)}\n")
            fh.flush()
            done = subprocess.run(
                list(cmd),
                env=full_env,
                cwd=cwd,
                stdout=fh,
                stderr=subprocess.STDOUT,
                text=True,
                input=input_text,
                check=False,
            )
        if check and done.returncode != 0:
            tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-25:]
            raise ImageError(
                f"`{' '.join(cmd[:3])} …` exited {done.returncode}; the end of {log}:\n"
                + "\n".join(tail)
            )
        return done
    done = subprocess.run(
        list(cmd),
        env=full_env,
        cwd=cwd,
        capture_output=True,
        text=True,
        input=input_text,
        check=False,
    )
    if check and done.returncode != 0:
        output = (done.stdout + done.stderr).strip().splitlines()[-25:]
        raise ImageError(f"`{' '.join(cmd[:3])} …` exited {done.returncode}:\n" + "\n".join(output))
    return done


class Stopwatch:
    """Seconds per named phase, in the order they ran (the build's report)."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        self._started = time.monotonic()

    def lap(self, name: str, since: float) -> float:
        seconds = round(time.monotonic() - since, 1)
        self.phases[name] = seconds
        return seconds

    @property
    def total(self) -> float:
        return round(time.monotonic() - self._started, 1)
