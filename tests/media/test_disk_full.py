"""An upload onto a full disk: a clear 503 problem+json (`storage-full`), no row (its job is
enqueued in the same transaction), no file (the chaos matrix's `media-disk-full` does the
same to the stack)."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sichrplace.config import Settings
from sichrplace.media.parts import MEDIA
from sichrplace.platform.db.engines import Database
from sichrplace.platform.parts import Parts
from tests.media.conftest import Member, image_rows, photo
from tests.media.test_upload import upload

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs with every byte taken."""
    folder = tmp_path / "full"
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)], check=True)
    try:
        with open(folder / "filler", "wb", buffering=0) as fh:
            try:
                while True:
                    fh.write(b"\0" * 4096)
            except OSError:
                pass
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _files(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if p.is_file()]


async def test_upload_onto_a_full_disk_is_503_and_stores_nothing(
    client: httpx.AsyncClient,
    parts: Parts,
    db: Database,
    settings: Settings,
    landlord: Member,
    listing_id: uuid.UUID,
    full_disk: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(parts.get(MEDIA).storage, "originals_dir", full_disk)
    data = photo(400, 300, "JPEG")
    r = await upload(client, listing_id, landlord, data)
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("/storage-full")
    assert r.headers["retry-after"] == "60"
    assert await image_rows(db, listing_id) == 0
    assert _files(full_disk) == ["filler"]
