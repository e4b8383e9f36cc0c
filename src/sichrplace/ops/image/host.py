"""The host's container tools: Debian's podman, buildah, runc, mmdebstrap and skopeo, installed
when missing, and the containers.conf our invocations of them use.

Facts of this machine (docs/architecture.md): crun fails on its cgroup layout, so runc; and a
container whose default rlimits exceed the host's hard limits fails at setrlimit, so the
defaults are set below them. The file is passed through CONTAINERS_CONF to our own commands
only: /etc/containers stays as Debian ships it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from sichrplace.ops.image.layout import ImageError, run

# Debian package -> the command that shows it is installed.
PACKAGES: dict[str, str] = {
    "podman": "podman",
    "buildah": "buildah",
    "runc": "runc",
    "mmdebstrap": "mmdebstrap",
    "skopeo": "skopeo",
}
# Rootless podman maps the user's subordinate ids with these (as root they are not needed).
ROOTLESS_PACKAGES: dict[str, str] = {"uidmap": "newuidmap"}

CONTAINERS_CONF = """\
# Written by `sichrplace image` (ops/image/host.py); used through CONTAINERS_CONF.
[containers]
# Below the host's hard limits (nofile 20000, nproc ~96000 here): podman's defaults are
# higher and the container then fails at setrlimit.
default_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]

[engine]
# crun fails on this machine's cgroup layout; runc works.
runtime = "runc"
# No systemd here: cgroups and events without it.
cgroup_manager = "cgroupfs"
events_logger = "file"
"""


def is_root() -> bool:
    return os.geteuid() == 0


def missing_packages(root: bool | None = None) -> list[str]:
    wanted = dict(PACKAGES)
    if not (is_root() if root is None else root):
        wanted |= ROOTLESS_PACKAGES
    return [package for package, command in wanted.items() if shutil.which(command) is None]


def install(packages: list[str]) -> None:
    """apt-get install the packages (as root; otherwise say what to run)."""
    if not packages:
        return
    if not is_root():
        raise ImageError(
            f"missing Debian packages: {' '.join(packages)}; run as root once, or: "
            f"sudo apt-get install --no-install-recommends {' '.join(packages)}"
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "update", "-qq"], env=env)
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages], env=env)


def write_containers_conf(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != CONTAINERS_CONF:
        path.write_text(CONTAINERS_CONF, encoding="utf-8")


def podman_env(conf: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of every podman/buildah command we run."""
    return dict(os.environ if base is None else base, CONTAINERS_CONF=str(conf))
