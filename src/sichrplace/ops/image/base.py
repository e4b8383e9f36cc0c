"""The base image: a minimal Debian bookworm root filesystem made by mmdebstrap from Debian's
packages (no registry can be reached here), imported into podman's storage as
`localhost/sichrplace-base:bookworm-<hash of its inputs>`.

The tag names what went in (suite, variant, packages, files, options), so a base whose inputs
have not changed is reused as it is; `--refresh-base` makes it again under the same tag
(Debian's security updates). Both stages of the Containerfile start from it: the builder adds
the virtualenv, the runtime stage only copies it in, so no compiler or pip is in either.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sichrplace.ops.image.layout import Layout, run

SUITE = "bookworm"
VARIANT = "minbase"
REPOSITORY = "localhost/sichrplace-base"

# On top of minbase; each for a reason of the app's (nothing for building: wheels only).
PACKAGES: tuple[str, ...] = (
    "python3.11",  # the interpreter the virtualenv links to (bookworm's 3.11.2)
    "ca-certificates",  # TLS to the payment providers, the OTLP collector, Sentry
    "netbase",  # /etc/services and /etc/protocols, which socket lookups read
    "fonts-dejavu-core",  # DejaVuSans for the contract PDFs (contracts/document.py)
)

# Data files taken out of Debian packages without installing them: the German dictionaries of
# search (kit/german.py). Installed, they would bring dictionaries-common and with it Perl
# (~50 MB) for their maintainer scripts, which only register them with spell checkers. The
# versions taken are written to /usr/share/doc/sichrplace-base/data-files.
DATA_FILES: dict[str, tuple[str, ...]] = {
    "wngerman": ("./usr/share/dict/ngerman", "./usr/share/doc/wngerman/copyright"),
    "hunspell-de-de": (
        "./usr/share/hunspell/de_DE.dic",
        "./usr/share/hunspell/de_DE.aff",  # the .dic's flags (which words are parts only)
        "./usr/share/doc/hunspell-de-de/copyright",
    ),
}

# Documentation, translations of other programs' messages and manuals are not read at run
# time; the copyright files stay (the licences of what the image ships).
DPKG_OPTIONS: tuple[str, ...] = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/lintian/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
)

# mmdebstrap runs each hook as `sh -c HOOK exec <chroot>`; apt-get outside the chroot reads
# the chroot's package lists through mmdebstrap's apt configuration.
_EXTRACT_HOOK = """\
set -e
cd "$1/tmp"
mkdir -p "$1/usr/share/doc/sichrplace-base"
APT_CONFIG="$MMDEBSTRAP_APT_CONFIG" apt-get download -q {package}
dpkg-deb --fsys-tarfile {package}_*.deb | tar -x -C "$1" {members}
dpkg-deb --show --showformat '${{Package}} ${{Version}}: {files}\\n' {package}_*.deb \
  >> "$1/usr/share/doc/sichrplace-base/data-files"
rm -f {package}_*.deb
"""
_CLEAN_HOOK = 'rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/*'

# Bump to make every base again (a change of how it is made that the lists above miss).
RECIPE = 1


def hooks() -> list[str]:
    extract = [
        _EXTRACT_HOOK.format(
            package=package,
            members=" ".join(members),
            files=" ".join(m.removeprefix(".") for m in members if "/doc/" not in m),
        )
        for package, members in DATA_FILES.items()
    ]
    return [*extract, _CLEAN_HOOK]


def inputs_digest(mirrors: Sequence[str] = ()) -> str:
    """A hash of everything the base is made from: its tag, so unchanged inputs reuse it."""
    inputs = {
        "recipe": RECIPE,
        "suite": SUITE,
        "variant": VARIANT,
        "packages": sorted(PACKAGES),
        "data_files": {k: list(v) for k, v in sorted(DATA_FILES.items())},
        "dpkg": list(DPKG_OPTIONS),
        "hooks": hooks(),
        "mirrors": list(mirrors),
    }
    raw = json.dumps(inputs, sort_keys=True).encode()
    return hashlib.sha256(raw).hexdigest()


def base_tag(mirrors: Sequence[str] = ()) -> str:
    return f"{REPOSITORY}:{SUITE}-{inputs_digest(mirrors)[:12]}"


def mmdebstrap_command(target: str, mirrors: Sequence[str] = ()) -> list[str]:
    """Without mirrors mmdebstrap uses Debian's default one and, for a stable suite, adds the
    updates and security suites itself."""
    cmd = [
        "mmdebstrap",
        f"--variant={VARIANT}",
        f"--include={','.join(PACKAGES)}",
        # bookworm's usrmerge package would pull in Perl; mmdebstrap's hook sets up the merged
        # /usr itself and installs the small usr-is-merged instead.
        "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
        '--aptopt=Acquire::Languages "none"',
        *(f"--dpkgopt={option}" for option in DPKG_OPTIONS),
        *(f"--customize-hook={hook}" for hook in hooks()),
        SUITE,
        target,
        *mirrors,
    ]
    return cmd


@dataclass(frozen=True)
class BaseImage:
    tag: str
    built: bool  # False: reused from podman's storage
    seconds: float
    size_bytes: int


def image_exists(ref: str, env: Mapping[str, str]) -> bool:
    return run(["podman", "image", "exists", ref], env=env, check=False).returncode == 0


def image_size(ref: str, env: Mapping[str, str]) -> int:
    out = run(["podman", "image", "inspect", "--format", "{{.Size}}", ref], env=env).stdout
    return int(out.strip())


def ensure_base(
    layout: Layout,
    env: Mapping[str, str],
    *,
    refresh: bool = False,
    mirrors: Sequence[str] = (),
) -> BaseImage:
    """The base image for the current inputs: reused when present, else made and imported."""
    tag = base_tag(mirrors)
    started = time.monotonic()
    if not refresh and image_exists(tag, env):
        return BaseImage(tag, False, 0.0, image_size(tag, env))
    layout.build.mkdir(parents=True, exist_ok=True)
    tarball = layout.build / "base.tar"
    tarball.unlink(missing_ok=True)
    try:
        run(mmdebstrap_command(str(tarball), mirrors), log=layout.log)
        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        changes = [
            "ENV LANG=C.UTF-8",
            'CMD ["/bin/bash"]',
            f"LABEL org.opencontainers.image.created={created}",
            f"LABEL org.opencontainers.image.title=sichrplace-base-{SUITE}-{VARIANT}",
            f"LABEL sichrplace.base.inputs={inputs_digest(mirrors)}",
        ]
        cmd = ["podman", "import"]
        for change in changes:
            cmd += ["--change", change]
        run([*cmd, str(tarball), tag], env=env, log=layout.log)
    finally:
        tarball.unlink(missing_ok=True)
    return BaseImage(tag, True, round(time.monotonic() - started, 1), image_size(tag, env))
