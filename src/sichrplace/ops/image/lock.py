"""The image's hash-pinned locks and the check that they follow pyproject.toml.

deploy/image/requirements.lock holds the runtime dependencies (pyproject's `dependencies`, no
extras) resolved for the image's Python, bookworm's 3.11.2 on x86_64 glibc 2.36, with the
hashes of every file of each pinned release; deploy/image/tools.lock holds what only the
builder stage runs (pip, setuptools for the project's wheel, cyclonedx-bom for the SBOM).
Both are made by `uv pip compile --generate-hashes` (`sichrplace image lock`); the builder
installs them with `pip install --require-hashes --no-deps`.
"""

from __future__ import annotations

import re
import shutil
import sys
import tomllib
from pathlib import Path

from sichrplace.ops.image.layout import ImageError, Layout

PYTHON_VERSION = "3.11.2"  # Debian bookworm's python3.11 (markers such as < 3.11.3 apply)
PYTHON_PLATFORM = "x86_64-manylinux_2_36"  # bookworm's glibc
COMPILE_COMMAND = "sichrplace image lock"

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;\\]+)")


def normalize(name: str) -> str:
    """PEP 503: names compare case-, dash-, dot- and underscore-blind."""
    return re.sub(r"[-_.]+", "-", name).lower()


def uv_binary() -> str:
    beside = Path(sys.executable).parent / "uv"
    found = str(beside) if beside.exists() else shutil.which("uv")
    if found is None:
        raise ImageError("uv is missing: install the dev dependencies (scripts/bootstrap.sh)")
    return found


def compile_commands(layout: Layout, *, upgrade: bool = False) -> list[list[str]]:
    """The two `uv pip compile` runs that write the locks (kept pins stay unless upgrade)."""
    common = [
        "--generate-hashes",
        f"--python-version={PYTHON_VERSION}",
        f"--python-platform={PYTHON_PLATFORM}",
        f"--custom-compile-command={COMPILE_COMMAND}",
        "--quiet",
        *(["--upgrade"] if upgrade else []),
    ]
    uv = uv_binary()
    return [
        [
            uv, "pip", "compile", str(layout.root / "pyproject.toml"), *common,
            f"--output-file={layout.requirements_lock}",
        ],
        [uv, "pip", "compile", str(layout.tools_in), *common, f"--output-file={layout.tools_lock}"],
    ]  # fmt: skip


def lock_pins(text: str) -> dict[str, str]:
    """name -> version of a lock (or of a plain requirements list)."""
    pins: dict[str, str] = {}
    for line in text.splitlines():
        match = _PIN.match(line)
        if match:
            pins[normalize(match.group(1))] = match.group(2)
    return pins


def unhashed(text: str) -> list[str]:
    """Pinned entries of a lock without a single --hash (pip would refuse the whole lock)."""
    missing: list[str] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = _PIN.match(line)
        if not match:
            continue
        following = lines[i + 1 : i + 2]
        if not following or "--hash=sha256:" not in following[0]:
            missing.append(normalize(match.group(1)))
    return missing


def hashes(text: str) -> set[str]:
    return set(re.findall(r"--hash=sha256:([0-9a-f]{64})", text))


def pyproject_pins(pyproject: Path) -> dict[str, str]:
    """The exact pins (`==`) of pyproject.toml's runtime dependencies."""
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    return lock_pins("\n".join(data["project"]["dependencies"]))


def build_system_pins(pyproject: Path) -> dict[str, str]:
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    return lock_pins("\n".join(data["build-system"]["requires"]))


def drift(wanted: dict[str, str], locked: dict[str, str]) -> list[str]:
    """What the lock says differently from the pins it was made from (empty: they agree)."""
    problems: list[str] = []
    for name, version in sorted(wanted.items()):
        got = locked.get(name)
        if got is None:
            problems.append(f"{name}=={version} is not in the lock")
        elif got != version:
            problems.append(f"{name}: pinned {version}, locked {got}")
    return problems


def check(layout: Layout) -> list[str]:
    """Every problem of the two locks against pyproject.toml (empty: they are in step)."""
    pyproject = layout.root / "pyproject.toml"
    runtime = layout.requirements_lock.read_text(encoding="utf-8")
    tools = layout.tools_lock.read_text(encoding="utf-8")
    problems = drift(pyproject_pins(pyproject), lock_pins(runtime))
    # The builder makes the project's wheel with the setuptools of tools.lock.
    problems += [f"tools.lock: {p}" for p in drift(build_system_pins(pyproject), lock_pins(tools))]
    problems += [
        f"tools.lock: {p}"
        for p in drift(lock_pins(layout.tools_in.read_text(encoding="utf-8")), lock_pins(tools))
    ]
    problems += [f"{name} has no hash in requirements.lock" for name in unhashed(runtime)]
    problems += [f"{name} has no hash in tools.lock" for name in unhashed(tools)]
    return problems
