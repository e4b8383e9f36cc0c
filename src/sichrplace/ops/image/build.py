"""The image build proper: tags, labels, the podman command, and what is read back from the
image afterwards (its size against the budget, its SBOM, its Debian packages)."""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sichrplace.ops.image.layout import IMAGE, Layout, run

SBOM_IN_IMAGE = "/usr/share/doc/sichrplace/sbom.cdx.json"
BUDGET_MARGIN = 0.15  # a new budget: the measured size plus this share


@dataclass(frozen=True)
class Revision:
    sha: str  # "unknown" outside a git checkout
    dirty: bool  # the image's sources differ from the commit

    @property
    def label(self) -> str:
        return self.sha + ("-dirty" if self.dirty else "")

    @property
    def tag(self) -> str:
        return self.sha[:12] + ("-dirty" if self.dirty else "")


def git_revision(root: Path) -> Revision:
    head = run(["git", "rev-parse", "HEAD"], cwd=root, check=False)
    if head.returncode != 0:
        return Revision("unknown", True)
    # Only what goes into the image counts: a changed doc does not make the image dirty.
    status = run(
        ["git", "status", "--porcelain", "--", "src", "pyproject.toml", "deploy/image"],
        cwd=root,
        check=False,
    )
    return Revision(head.stdout.strip(), bool(status.stdout.strip()))


def created(root: Path, revision: Revision) -> str:
    """The image's creation time: the commit's for a clean tree (a rebuild of the same commit
    is the same image, every layer from the cache), else now."""
    if not revision.dirty:
        done = run(["git", "log", "-1", "--format=%ct", revision.sha], cwd=root, check=False)
        if done.returncode == 0 and done.stdout.strip().isdigit():
            when = datetime.fromtimestamp(int(done.stdout.strip()), UTC)
            return when.strftime("%Y-%m-%dT%H:%M:%SZ")
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def source_url(root: Path) -> str:
    """The repository the image was built from (its `origin`), for the source label."""
    done = run(["git", "remote", "get-url", "origin"], cwd=root, check=False)
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else "unknown"


def project_version(root: Path) -> str:
    data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    return str(data["project"]["version"])


def image_tags(version: str, revision: Revision) -> list[str]:
    """The version of pyproject.toml and the commit: `:0.1.0` and `:3f2a9c1b0e12`."""
    return [f"{IMAGE}:{version}", f"{IMAGE}:{revision.tag}"]


def build_command(
    layout: Layout,
    *,
    base: str,
    tags: Sequence[str],
    version: str,
    revision: Revision,
    source: str,
    created: str,
    no_cache: bool = False,
) -> list[str]:
    cmd = [
        "podman", "build",
        # Docker's format keeps HEALTHCHECK (the OCI format has no field for it).
        "--format", "docker",
        # Every input is in the context (the wheels included): no RUN needs a network.
        "--network", "none",
        "--file", str(layout.containerfile),
        "--build-arg", f"BASE_IMAGE={base}",
        "--build-arg", f"VERSION={version}",
        "--build-arg", f"REVISION={revision.label}",
        "--build-arg", f"SOURCE={source}",
        "--build-arg", f"CREATED={created}",
        "--layers",
    ]  # fmt: skip
    if no_cache:
        cmd.append("--no-cache")
    for tag in tags:
        cmd += ["--tag", tag]
    return [*cmd, str(layout.context)]


def extract(ref: str, path: str, dest: Path, env: Mapping[str, str]) -> None:
    """Copy one file out of an image (a container is created, never started)."""
    created = run(["podman", "create", "--network", "none", ref], env=env)
    container = created.stdout.strip().splitlines()[-1]
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        run(["podman", "cp", f"{container}:{path}", str(dest)], env=env)
    finally:
        run(["podman", "rm", "--force", container], env=env, check=False)


def debian_packages(ref: str, env: Mapping[str, str]) -> list[str]:
    done = run(
        [
            "podman", "run", "--rm", "--network", "none", "--health-cmd", "none",
            "--entrypoint", "dpkg-query", ref,
            "--show", "--showformat", "${Package} ${Version}\n",
        ],
        env=env,
    )  # fmt: skip
    return sorted(line for line in done.stdout.splitlines() if line.strip())


def sbom_components(path: Path) -> int:
    data = json.loads(path.read_text(encoding="utf-8"))
    return len(data.get("components", []))


@dataclass(frozen=True)
class Built:
    size_bytes: int  # podman image inspect .Size: uncompressed, all layers
    sbom_components: int
    debian_packages: int


def inspect(ref: str, layout: Layout, env: Mapping[str, str]) -> Built:
    """Read back what the build made: its size, its SBOM (to build/image/) and its Debian
    packages (build/image/debian-packages.txt)."""
    extract(ref, SBOM_IN_IMAGE, layout.sbom, env)
    packages = debian_packages(ref, env)
    layout.debian_packages.write_text("\n".join(packages) + "\n", encoding="utf-8")
    size = run(["podman", "image", "inspect", "--format", "{{.Size}}", ref], env=env).stdout
    return Built(int(size.strip()), sbom_components(layout.sbom), len(packages))


@dataclass(frozen=True)
class Budget:
    budget_bytes: int
    measured_bytes: int
    measured_on: str
    note: str = ""

    def over(self, size: int) -> bool:
        return size > self.budget_bytes


def load_budget(path: Path) -> Budget | None:
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return Budget(
        int(data["budget_bytes"]),
        int(data["measured_bytes"]),
        str(data["measured_on"]),
        str(data.get("note", "")),
    )


def budget_from(size: int, margin: float = BUDGET_MARGIN) -> Budget:
    """A budget from a measurement: the size plus `margin`, rounded up to a whole MB."""
    budget = math.ceil(size * (1 + margin) / 1_000_000) * 1_000_000
    return Budget(
        budget,
        size,
        datetime.now(UTC).strftime("%Y-%m-%d"),
        f"measured size + {round(margin * 100)} %, rounded up to a whole MB "
        "(podman image inspect .Size: uncompressed, all layers); reset with "
        "`sichrplace image build --set-budget`",
    )


def write_budget(path: Path, budget: Budget) -> None:
    path.write_text(json.dumps(asdict(budget), indent=2) + "\n", encoding="utf-8")


def write_report(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
