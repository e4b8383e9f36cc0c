"""The media folders' filesystem full (chaos `media-disk-full`), and put back.

Each folder (public variants, private originals) gets a small tmpfs mounted over it, holding a
copy of what was there (the files stay served and found) and a filler file that takes every
byte left. The folder itself stays reachable under a bind mount in `<data>/run/media-under`,
so clearing copies back what was written during the fault (nothing, if the disk really was
full; a file whose write began before it filled up would be there) and unmounts both.
Root only (mount); CI runs as root. What is mounted is written down in
`<data>/run/media-full.json`, so another process can clear it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from pathlib import Path

from sichrplace.config import Settings
from sichrplace.stack.layout import Layout, is_root

FILLER = ".chaos-disk-full"
HEADROOM_BYTES = 1 << 20  # the tmpfs' size above what the folder holds (then filled)


class MediaFaultError(RuntimeError):
    """The media folders could not be filled or put back (the text says why)."""


def _record(layout: Layout) -> Path:
    return layout.run / "media-full.json"


def _under(layout: Layout, folder: Path) -> Path:
    return layout.run / "media-under" / folder.name


def folders(settings: Settings) -> list[Path]:
    return [settings.media.media_dir, settings.media.originals_dir]


def _run(*args: str) -> None:
    proc = subprocess.run(list(args), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise MediaFaultError(f"{' '.join(args)}: {proc.stderr.strip() or proc.stdout}")


def _is_mount(path: Path) -> bool:
    """A mount point (os.path.ismount misses a bind mount from the same filesystem)."""
    target = os.path.realpath(path)
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            point = line.split()[1].replace("\\040", " ")
            if point == target:
                return True
    return False


def _size(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total


def _fill(folder: Path) -> int:
    """Write a filler until the filesystem refuses (ENOSPC); its size."""
    written = 0
    block = b"\0" * (1 << 16)
    with open(folder / FILLER, "wb", buffering=0) as fh:
        try:
            while True:
                written += fh.write(block)
        except OSError:
            pass  # full: what we came for
    return written


def fill(settings: Settings, layout: Layout) -> list[str]:
    """Mount a full tmpfs over each media folder (a copy of its files inside)."""
    if not is_root():
        raise MediaFaultError("filling the media disk needs root (a tmpfs mount)")
    done: list[str] = json.loads(_record(layout).read_text()) if _record(layout).exists() else []
    for folder in folders(settings):
        if str(folder) in done:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        under = _under(layout, folder)
        under.mkdir(parents=True, exist_ok=True)
        size = _size(folder) + HEADROOM_BYTES
        if not _is_mount(under):
            _run("mount", "--bind", str(folder), str(under))
        done.append(str(folder))
        _record(layout).write_text(json.dumps(done))
        stat = folder.stat()
        _run(
            "mount",
            "-t",
            "tmpfs",
            "-o",
            f"size={size},mode={stat.st_mode & 0o7777:o}",
            "tmpfs",
            str(folder),
        )
        _run("cp", "-a", f"{under}/.", str(folder))
        _fill(folder)
    return done


def restore(settings: Settings, layout: Layout) -> list[str]:
    """Copy back what was written meanwhile and unmount; idempotent."""
    if not _record(layout).exists():
        return []
    done: list[str] = json.loads(_record(layout).read_text())
    for name in list(done):
        folder = Path(name)
        under = _under(layout, folder)
        if _is_mount(folder) and _is_mount(under):
            (folder / FILLER).unlink(missing_ok=True)
            # -n: never overwrite a file of the real folder (content-addressed: same bytes).
            _run("cp", "-a", "-n", f"{folder}/.", str(under))
            _unmount(folder)
        if _is_mount(under):
            _unmount(under)
        with contextlib.suppress(OSError):
            under.rmdir()
        done.remove(name)
        _record(layout).write_text(json.dumps(done))
    _record(layout).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        (layout.run / "media-under").rmdir()
    return [str(f) for f in folders(settings)]


def _unmount(path: Path) -> None:
    try:
        _run("umount", str(path))
    except MediaFaultError:
        # A process still has a file open there (an upload in flight): detach now, the
        # kernel frees it when the file is closed.
        _run("umount", "-l", str(path))


def is_full(settings: Settings) -> bool:
    return any((folder / FILLER).exists() for folder in folders(settings))


def free_bytes(folder: Path) -> int:
    return shutil.disk_usage(folder).free
