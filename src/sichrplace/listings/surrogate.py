"""The surrogate keys of listing answers (`Surrogate-Key`, platform/edge): what a cached
answer shows, so a change can purge exactly the answers it makes stale.

- `listing-<id>`: the listing's detail and its images (purged after every change of it);
- `listings`: every list (search, facets, popular, sitemap), plus `city-<city_key>` when the
  list is one city's. Lists are not purged per change: they expire at the edge after their
  short max-age like in browsers; the keys let an operator purge them (`sichrplace edge purge`).
"""

from __future__ import annotations

import re
import uuid

from sichrplace.listings.vocabulary import city_key

LISTS = "listings"
_UNSAFE = re.compile(r"[^a-z0-9_.-]+")


def listing(listing_id: uuid.UUID | str) -> str:
    return f"listing-{listing_id}"


def city(key: str) -> str:
    """The key of one city's lists, from its normalised key (`city_key`)."""
    return "city-" + _UNSAFE.sub("_", key.lower())


def of_city_name(name: str) -> str:
    return city(city_key(name))


def lists(city_key_value: str | None = None) -> tuple[str, ...]:
    """The keys of a list, of one city's listings when `city_key_value` is given."""
    return (LISTS,) if not city_key_value else (LISTS, city(city_key_value))


def listing_change(listing_id: uuid.UUID) -> tuple[str, ...]:
    """What a change of a listing purges."""
    return (listing(listing_id),)
