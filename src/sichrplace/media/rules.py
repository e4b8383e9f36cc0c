"""Media rules as pure functions (no I/O): who may add images to a listing, what an upload
may weigh. The service applies them."""

from __future__ import annotations

import uuid

from sichrplace.kit.errors import Forbidden
from sichrplace.listings.errors import ListingNotFound
from sichrplace.listings.rules import Caller, may_manage, may_see

_MB = 1024 * 1024


def check_may_add_images(caller: Caller, owner_id: uuid.UUID | None, status: str) -> None:
    """404 without a listing (`owner_id` None) or one the caller may not see (archived: others
    may not learn it exists); 403 unless the caller manages it (its owner or an admin)."""
    if owner_id is None or not may_see(caller, owner_id=owner_id, status=status):
        raise ListingNotFound()
    if not may_manage(caller, owner_id):
        raise Forbidden("Only the listing's owner can add images.")


def upload_size_problem(size: int, limit: int) -> str | None:
    """Why an upload of `size` bytes is refused (`limit` at most), or None."""
    if size > limit:
        return f"larger than {limit // _MB} MB"
    if size == 0:
        return "empty file"
    return None
