"""Media rules as pure functions (no I/O): who may add images to a listing, what an upload
may weigh. The service applies them."""

from __future__ import annotations

import uuid

from sichrplace.kit.errors import Forbidden
from sichrplace.kit.i18n import N_, Msg
from sichrplace.listings.errors import ListingNotFound
from sichrplace.listings.rules import Caller, may_manage, may_see

_MB = 1024 * 1024


def check_may_add_images(caller: Caller, owner_id: uuid.UUID | None, status: str) -> None:
    """404 without a listing (`owner_id` None) or one the caller may not see (archived: others
    may not learn it exists); 403 unless the caller manages it (its owner or an admin)."""
    if owner_id is None or not may_see(caller, owner_id=owner_id, status=status):
        raise ListingNotFound()
    if not may_manage(caller, owner_id):
        raise Forbidden(N_("Only the listing's owner can add images."))


def upload_size_problem(size: int, limit: int) -> Msg | None:
    """Why an upload of `size` bytes is refused (`limit` at most), or None."""
    if size > limit:
        return N_("larger than {n} MB", n=limit // _MB)
    if size == 0:
        return N_("empty file")
    return None
