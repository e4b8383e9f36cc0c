"""Versions of the app on the local stack: releases prepared once, and which program runs which.

A release is the app's code of one version under `<data>/releases/<id>/`: the tree of a git
commit (`git archive`; id = its short sha) or of a source folder (`--source`; id = `src-` and
a hash of its files). A program runs it with the stack's virtualenv and
`PYTHONPATH=<release>/src`, so the release's `sichrplace` package is found before the
editable install of the checkout (a `.pth` entry, after PYTHONPATH on sys.path). The release's
tree root is then `config.PROJECT_ROOT`: its own `alembic.ini` and `migrations/`.
Only the code changes: a version with other dependencies needs the image (docs/deployment.md).

Why the tree and not a wheel: building one needs the pinned setuptools (80.9) in an isolated
build environment, which is not installable offline here; the package data
(`[tool.setuptools.package-data]`: locale, templates, assets) all lives under `src/`.

Which release each program runs is in `<data>/releases/state.json` (`ReleaseState`), read by
every rendering of supervisord's, nginx's and Prometheus's configs, so a `stack up` or a
fault-proxy arm keeps each program on its version. A program with no entry runs the checkout.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sichrplace.config import PROJECT_ROOT, Settings
from sichrplace.stack.layout import Layout

# The version name for "the checkout's own code" (the editable install): no release.
CHECKOUT = "checkout"
# The canary's program and its port's offset from the API base port: inside the 16 ports
# `stack down` checks, far from the stable instances'.
CANARY_PROGRAM = "api-canary"
CANARY_PORT_OFFSET = 15
# Files copied from a `--source` project folder besides `src/` (the rest of a checkout, its
# virtualenv and node_modules, is not the app's code).
_SOURCE_EXTRAS = ("alembic.ini", "migrations", "deploy")
# What a release takes from a commit: the code, its migrations, the stack's templates.
_ARCHIVED = ("src", "alembic.ini", "migrations", "deploy")
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache", ".pytest_cache")


class ReleaseError(RuntimeError):
    """A version that cannot be prepared or a release that failed."""


@dataclass(frozen=True)
class Release:
    """One prepared version: its id, what it was made from and its folder."""

    id: str
    label: str  # the git ref or the source folder asked for
    git_sha: str  # what /api/v1/version reports (SICHRPLACE_APP_GIT_SHA)
    path: Path

    @property
    def code(self) -> Path:
        return self.path / "src"

    def env(self, settings: Settings) -> dict[str, str]:
        """What a program of this release gets on top of the stack's environment."""
        return {
            "PYTHONPATH": str(self.code),
            "SICHRPLACE_APP_GIT_SHA": self.git_sha,
            # The API docs pages' browser files are not code: the checkout's are shared.
            "SICHRPLACE_APP_NODE_MODULES_DIR": str(settings.app.node_modules_dir),
        }


@dataclass
class Canary:
    release: str
    weight: int  # percent of the API requests


@dataclass
class ReleaseState:
    """Which release each program runs (absent: the checkout), the canary, and the API ports
    nginx must leave out for now (an instance being replaced)."""

    programs: dict[str, str] = field(default_factory=dict)
    canary: Canary | None = None
    down: list[int] = field(default_factory=list)


def releases_dir(layout: Layout) -> Path:
    return layout.root / "releases"


def _state_file(layout: Layout) -> Path:
    return releases_dir(layout) / "state.json"


def load_state(layout: Layout) -> ReleaseState:
    try:
        raw = json.loads(_state_file(layout).read_text())
    except (FileNotFoundError, ValueError):
        return ReleaseState()
    canary = raw.get("canary")
    return ReleaseState(
        programs={str(k): str(v) for k, v in raw.get("programs", {}).items()},
        canary=Canary(str(canary["release"]), int(canary["weight"])) if canary else None,
        down=[int(p) for p in raw.get("down", [])],
    )


def save_state(layout: Layout, state: ReleaseState) -> None:
    path = _state_file(layout)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def canary_port(settings: Settings) -> int:
    return settings.stack.api_base_port + CANARY_PORT_OFFSET


def load_release(layout: Layout, release_id: str) -> Release:
    path = releases_dir(layout) / release_id
    try:
        meta = json.loads((path / "release.json").read_text())
    except (FileNotFoundError, ValueError) as exc:
        raise ReleaseError(f"release {release_id} is not prepared under {path}") from exc
    return Release(release_id, str(meta["label"]), str(meta["git_sha"]), path)


def program_env(settings: Settings, layout: Layout, release_id: str | None) -> dict[str, str]:
    """The environment a program adds for its release (nothing for the checkout)."""
    if release_id is None:
        return {}
    return load_release(layout, release_id).env(settings)


def _git(*args: str) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise ReleaseError(f"git {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def tree_hash(src: Path) -> str:
    """A hash of a source tree's files (names and contents), stable across copies."""
    digest = hashlib.sha256()
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        rel = path.relative_to(src)
        if "__pycache__" in rel.parts or path.suffix == ".pyc":
            continue
        digest.update(str(rel).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def _finish(staging: Path, target: Path, meta: dict[str, str]) -> None:
    """Byte-compile (instances then start without writing .pyc files) and move into place."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(staging / "src")],
        check=False,
        capture_output=True,
    )
    (staging / "release.json").write_text(json.dumps(meta, indent=2) + "\n")
    # Readable by every user a program may run as (the folder is made under a umask of ours).
    staging.chmod(0o755)
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)


def prepare(
    settings: Settings, layout: Layout, version: str | None, source: Path | None = None
) -> Release | None:
    """The release for a git ref or a source folder, prepared once (None: the checkout)."""
    if source is None and (version is None or version == CHECKOUT):
        return None
    base = releases_dir(layout)
    base.mkdir(parents=True, exist_ok=True)
    if source is not None:
        src = source / "src" if (source / "src" / "sichrplace").is_dir() else source
        if not (src / "sichrplace").is_dir():
            raise ReleaseError(f"{source}: neither src/sichrplace nor sichrplace inside")
        release_id = f"src-{tree_hash(src / 'sichrplace')}"
        label, git_sha = str(source), release_id
    else:
        assert version is not None
        git_sha = _git("rev-parse", "--verify", "--short=12", f"{version}^{{commit}}")
        release_id, label = git_sha, version
    target = base / release_id
    if (target / "release.json").exists():
        return load_release(layout, release_id)
    staging = Path(tempfile.mkdtemp(prefix=f".{release_id}-", dir=base))
    try:
        if source is not None:
            shutil.copytree(src / "sichrplace", staging / "src" / "sichrplace", ignore=_SKIP)
            origin = source if (source / "src").is_dir() else PROJECT_ROOT
            for extra in _SOURCE_EXTRAS:
                found = origin / extra if (origin / extra).exists() else PROJECT_ROOT / extra
                copy = shutil.copytree if found.is_dir() else shutil.copy2
                copy(found, staging / extra)
        else:
            archive = staging / "tree.tar"
            _git("archive", "--format=tar", f"--output={archive}", git_sha, *_ARCHIVED)
            with tarfile.open(archive) as tar:
                tar.extractall(staging, filter="data")
            archive.unlink()
        meta = {"label": label, "git_sha": git_sha, "created": time.strftime("%FT%TZ")}
        _finish(staging, target, meta)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return load_release(layout, release_id)


def describe(layout: Layout, release_id: str | None) -> str:
    """`<id> (<label>)`, or `checkout` for the editable install."""
    if release_id is None:
        return CHECKOUT
    try:
        release = load_release(layout, release_id)
    except ReleaseError:
        return f"{release_id} (missing)"
    return release.id if release.label == release.id else f"{release.id} ({release.label})"
