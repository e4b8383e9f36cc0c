"""Content-addressed files: `<sha256[:2]>/<sha256>.<ext>`, written atomically.

Layout (MediaSettings):
  media_dir/<h[:2]>/<h>.webp                  public variants (nginx: /media/ -> media_dir/)
  originals_dir/<h[:2]>/<h>.<jpeg|png|webp>   private originals (may carry EXIF/GPS): not served

A file is written to a temp name in its final folder, fsynced, made world-readable (nginx may
run as another user) and then hard-linked to its final name: the link fails if the name
exists, so exactly one writer "creates" a given content and a reader never sees a partial file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Final

from sqlalchemy import event

from sichrplace.config import MediaSettings
from sichrplace.platform.db.sessions import PrimarySession

IMMUTABLE_CACHE_CONTROL: Final = "public, max-age=31536000, immutable"
VARIANT_NAME: Final = re.compile(r"^([0-9a-f]{2})/(\1[0-9a-f]{62})\.webp$")
_ROLLBACK_FILES_KEY: Final = "sichrplace.media.rollback_files"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def relative_path(sha256: str, ext: str) -> str:
    return f"{sha256[:2]}/{sha256}.{ext}"


class MediaStorage:
    def __init__(self, settings: MediaSettings) -> None:
        self.public_dir = settings.media_dir
        self.originals_dir = settings.originals_dir
        self.base_url = settings.public_base_url.rstrip("/") + "/"

    def variant_path(self, sha256: str) -> Path:
        return self.public_dir / relative_path(sha256, "webp")

    def original_path(self, sha256: str, fmt: str) -> Path:
        return self.originals_dir / relative_path(sha256, fmt)

    def variant_url(self, sha256: str) -> str:
        return self.base_url + relative_path(sha256, "webp")

    def resolve_public(self, name: str) -> Path | None:
        """The file for a public `<h[:2]>/<h>.webp` name, or None (nothing else is reachable)."""
        if not VARIANT_NAME.match(name):
            return None
        path = self.public_dir / name
        return path if path.is_file() else None


def write_atomic(path: Path, data: bytes) -> bool:
    """Store `data` at `path` unless it exists; True if this call created the file."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.chmod(0o644)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False  # someone stored the same content meanwhile: identical bytes
        _fsync_dir(path.parent)
        return True
    finally:
        tmp.unlink(missing_ok=True)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def delete_on_rollback(session: PrimarySession, path: Path) -> None:
    """Remove `path` if this session's transaction rolls back (never after a commit).

    The upload writes its file before the request boundary commits; if the commit does not
    happen, the file would be an orphan. (If the process dies in between, it still is: see
    the module docstring of `sichrplace.media.service`.)
    """
    files: list[Path] | None = session.info.get(_ROLLBACK_FILES_KEY)
    if files is None:
        files = session.info[_ROLLBACK_FILES_KEY] = []
        event.listen(session.sync_session, "after_rollback", _remove_files)
        event.listen(session.sync_session, "after_commit", _forget_files)
    files.append(path)


def _remove_files(sync_session: Any) -> None:
    for path in sync_session.info.pop(_ROLLBACK_FILES_KEY, []):
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


def _forget_files(sync_session: Any) -> None:
    sync_session.info.pop(_ROLLBACK_FILES_KEY, None)
