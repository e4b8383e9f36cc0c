"""What the listings domain keeps for the life of a process (built by the composition root)."""

from __future__ import annotations

from dataclasses import dataclass

from sichrplace.integrations.maps.types import Geocoder
from sichrplace.listings.detail import ConfirmedViewing
from sichrplace.listings.invalidation import ReadPath
from sichrplace.listings.page_views import PageViewBuffer
from sichrplace.platform.parts import Key


@dataclass(frozen=True, slots=True)
class ListingsParts:
    # None: no geocoder configured, listings are stored with coordinates pending.
    geocoder: Geocoder | None
    # The read side a write must keep consistent (cache, read-your-writes, the detail's extras).
    read_path: ReadPath
    # Detail page views counted in this process (API processes only).
    views: PageViewBuffer | None = None
    # A tenant with a confirmed viewing sees the exact address (None: nobody is told so).
    confirmed_viewing: ConfirmedViewing | None = None


LISTINGS = Key[ListingsParts]("listings")
