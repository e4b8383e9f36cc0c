"""The build context: only what the Containerfile copies, staged under build/image/context.

The wheels of both locks are downloaded on the host (once; kept in build/image/wheels while
the locks stay the same) for the image's platform, so every RUN of the build works without a
network and pip inside checks each file against the lock's hashes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from sichrplace.ops.image.layout import ImageError, Layout, run
from sichrplace.ops.image.lock import hashes

# The image's interpreter and C library (bookworm: CPython 3.11, glibc 2.36): every manylinux
# tag it accepts, newest first. pip does not widen a given --platform to older glibc tags.
PYTHON_TAG = "3.11"
ABIS = ("cp311", "abi3", "none")
PLATFORMS: tuple[str, ...] = (
    *(f"manylinux_2_{minor}_x86_64" for minor in range(36, 4, -1)),
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
)

SOURCE_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".mypy_cache")


def download_command(locks: Iterable[Path], dest: Path) -> list[str]:
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--require-hashes", "--no-deps"]
    cmd += ["--only-binary=:all:", f"--python-version={PYTHON_TAG}", "--implementation=cp"]
    cmd += [f"--abi={abi}" for abi in ABIS]
    cmd += [f"--platform={platform}" for platform in PLATFORMS]
    for lock in locks:
        cmd += ["--requirement", str(lock)]
    return [*cmd, "--dest", str(dest)]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ensure_wheels(layout: Layout) -> int:
    """Download the locks' wheels that are missing; drop files no lock names any more.
    Returns how many wheels there are."""
    locks = [layout.requirements_lock, layout.tools_lock]
    allowed = set().union(*(hashes(p.read_text(encoding="utf-8")) for p in locks))
    layout.wheels.mkdir(parents=True, exist_ok=True)
    stamp = layout.wheels / (
        ".locks-" + hashlib.sha256("".join(sorted(allowed)).encode()).hexdigest()[:16]
    )
    if not stamp.exists():
        for old in layout.wheels.glob(".locks-*"):
            old.unlink()
        run(download_command(locks, layout.wheels), log=layout.log)
        for wheel in layout.wheels.glob("*.whl"):
            if _sha256(wheel) not in allowed:
                wheel.unlink()
        stamp.touch()
    return sum(1 for _ in layout.wheels.glob("*.whl"))


def ensure_npm_files(root: Path, node_modules: Path, files: Iterable[str]) -> None:
    """The npm files the image needs, installed from package-lock.json when missing (what
    scripts/bootstrap.sh runs)."""
    missing = [f for f in files if not (node_modules / f).is_file()]
    if not missing:
        return
    npm = shutil.which("npm")
    if npm is None:
        raise ImageError(f"missing in {node_modules} and no npm to install them: {missing}")
    run(
        [npm, "ci", "--omit=dev", "--no-audit", "--no-fund", "--ignore-scripts"],
        cwd=root,
        env=dict(os.environ, npm_config_loglevel="error"),
    )
    still = [f for f in files if not (node_modules / f).is_file()]
    if still:
        raise ImageError(f"npm ci did not install: {still}")


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def stage(layout: Layout, node_modules: Path, npm_files: Mapping[str, Iterable[str]]) -> Path:
    """Lay out build/image/context afresh (see the Containerfile's header) and return it.

    `npm_files` maps a context folder (npm-web, npm-docs) to paths under node_modules."""
    ctx = layout.context
    if ctx.exists():
        shutil.rmtree(ctx)
    (ctx / "deploy" / "image").mkdir(parents=True)
    shutil.copy2(layout.root / "pyproject.toml", ctx / "pyproject.toml")
    shutil.copytree(layout.root / "src", ctx / "src", ignore=SOURCE_IGNORE)
    shutil.copy2(layout.root / "alembic.ini", ctx / "alembic.ini")
    shutil.copytree(layout.root / "migrations", ctx / "migrations", ignore=SOURCE_IGNORE)
    for lock in (layout.requirements_lock, layout.tools_lock):
        shutil.copy2(lock, ctx / "deploy" / "image" / lock.name)
    for wheel in layout.wheels.glob("*.whl"):
        _link_or_copy(wheel, ctx / "wheels" / wheel.name)
    for folder, files in npm_files.items():
        (ctx / folder).mkdir(parents=True, exist_ok=True)
        for name in files:
            _link_or_copy(node_modules / name, ctx / folder / name)
    return ctx
