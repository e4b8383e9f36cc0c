"""Media rules without a database: who may add images, what an upload may weigh, and the URLs
an image shows before and after its variants exist."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from sichrplace.accounts.models import Role
from sichrplace.accounts.security import Principal
from sichrplace.config import MediaSettings
from sichrplace.kit.errors import Forbidden, NotFound
from sichrplace.media import rules
from sichrplace.media.models import ImageStatus
from sichrplace.media.records import ImageRecord
from sichrplace.media.service import to_out
from sichrplace.media.storage import MediaStorage

OWNER = uuid.uuid4()
MB = 1024 * 1024


def caller(role: Role, user_id: uuid.UUID | None = None) -> Principal:
    return Principal(user_id or uuid.uuid4(), "x@example.com", role, uuid.uuid4())


def test_the_owner_and_admins_may_add_images() -> None:
    for status in ("active", "archived"):
        rules.check_may_add_images(caller(Role.LANDLORD, OWNER), OWNER, status)
        rules.check_may_add_images(caller(Role.ADMIN), OWNER, status)
    for role in (Role.LANDLORD, Role.TENANT):
        with pytest.raises(Forbidden):
            rules.check_may_add_images(caller(role), OWNER, "active")


def test_others_get_404_for_an_archived_listing() -> None:
    for role in (Role.LANDLORD, Role.TENANT):
        with pytest.raises(NotFound):
            rules.check_may_add_images(caller(role), OWNER, "archived")


def test_no_listing_is_404_before_any_role_check() -> None:
    with pytest.raises(NotFound):
        rules.check_may_add_images(caller(Role.ADMIN), None, "")


def test_an_upload_is_neither_empty_nor_over_the_limit() -> None:
    assert rules.upload_size_problem(10 * MB, 10 * MB) is None
    assert rules.upload_size_problem(1, 10 * MB) is None
    assert str(rules.upload_size_problem(10 * MB + 1, 10 * MB)) == "larger than 10 MB"
    assert str(rules.upload_size_problem(0, 10 * MB)) == "empty file"


def _record(status: ImageStatus, variants: dict[str, dict[str, object]]) -> ImageRecord:
    return ImageRecord(
        id=uuid.uuid4(),
        listing_id=uuid.uuid4(),
        status=status,
        original_sha256="a" * 64,
        original_format="jpeg",
        width=1200,
        height=800,
        variants=variants,
        created_at=datetime(2026, 12, 1, tzinfo=UTC),
    )


def test_urls_are_null_until_the_variants_are_ready() -> None:
    storage = MediaStorage(MediaSettings(public_base_url="https://cdn.example/media/"))
    digest = "b" * 64
    variants: dict[str, dict[str, object]] = {"320": {"sha256": digest, "width": 320}}
    processing = to_out(_record(ImageStatus.PROCESSING, {}), storage, (320, 800))
    assert (processing.status, processing.urls) == ("processing", {"320": None, "800": None})
    ready = to_out(_record(ImageStatus.READY, variants), storage, (320, 800))
    assert ready.status == "ready"
    # Never upscaled: a width the original does not reach has no variant.
    assert ready.urls == {"320": f"https://cdn.example/media/bb/{digest}.webp", "800": None}
