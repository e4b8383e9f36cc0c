"""Opaque keyset cursors: base64url(digest + JSON [version, sort, key, id, fingerprint]).

The cursor is the sort key of the last row of a page plus its id (the tie breaker). The digest
is a keyed BLAKE2b over the payload, so a hand-edited cursor is refused (422) rather than
silently paging from an arbitrary position; the fingerprint ties a cursor to the filter set
and sort it was issued for.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from sichrplace.kit.errors import Unprocessable
from sichrplace.kit.i18n import N_, Msg

_VERSION = 1
_DIGEST_SIZE = 10
# Not a secret: the digest detects tampering and truncation, it does not authorise anything.
_KEY = b"sichrplace.search.cursor.v1"
MAX_CURSOR_CHARS = 512

# newest: ISO timestamp; rent_*: cents; distance: metres; relevance: RelevanceKey as a list.
SortKey = int | float | str | list[Any]


@dataclass(frozen=True, slots=True)
class Cursor:
    sort: str
    key: SortKey
    id: uuid.UUID


def _digest(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, key=_KEY, digest_size=_DIGEST_SIZE).digest()


def encode_cursor(cursor: Cursor, fingerprint: str) -> str:
    payload = orjson.dumps([_VERSION, cursor.sort, cursor.key, str(cursor.id), fingerprint])
    raw = _digest(payload) + payload
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _invalid(message: Msg) -> Unprocessable:
    return Unprocessable.field("cursor", message, slug="invalid-cursor")


def _number(key: Any) -> float:
    if isinstance(key, bool) or not isinstance(key, int | float) or not math.isfinite(key):
        raise _invalid(N_("malformed sort key"))
    return float(key)


def _timestamp(key: Any) -> str:
    if not isinstance(key, str):
        raise _invalid(N_("malformed sort key"))
    try:
        parsed = datetime.fromisoformat(key)
    except ValueError:
        raise _invalid(N_("malformed sort key")) from None
    if parsed.tzinfo is None:
        raise _invalid(N_("malformed sort key"))
    return key


def _check_key(sort: str, key: Any) -> SortKey:
    if sort == "newest":
        return _timestamp(key)
    if sort in ("rent_asc", "rent_desc"):
        if not isinstance(key, int) or isinstance(key, bool):
            raise _invalid(N_("malformed sort key"))
        return key
    if sort == "distance":
        return _number(key)
    # relevance: [tier (0|1), rank, boundary timestamp | None, boundary id | None]
    if not isinstance(key, list) or len(key) != 4 or key[0] not in (0, 1):
        raise _invalid(N_("malformed sort key"))
    tier, rank, b_created, b_id = key
    if (b_created is None) != (b_id is None) or (tier == 1 and b_created is None):
        raise _invalid(N_("malformed sort key"))
    if b_created is not None:
        _timestamp(b_created)
        try:
            uuid.UUID(str(b_id))
        except ValueError:
            raise _invalid(N_("malformed sort key")) from None
    return [tier, _number(rank), b_created, b_id]


def decode_cursor(token: str, *, sort: str, fingerprint: str) -> Cursor:
    """Parse and verify a cursor issued for this sort and filter set; anything else is a 422."""
    if not token or len(token) > MAX_CURSOR_CHARS:
        raise _invalid(N_("malformed cursor"))
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise _invalid(N_("malformed cursor")) from None
    digest, payload = raw[:_DIGEST_SIZE], raw[_DIGEST_SIZE:]
    if len(digest) != _DIGEST_SIZE or not hmac.compare_digest(digest, _digest(payload)):
        raise _invalid(N_("cursor was modified or truncated"))
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise _invalid(N_("malformed cursor")) from None
    if not isinstance(data, list) or len(data) != 5 or data[0] != _VERSION:
        raise _invalid(N_("unsupported cursor version"))
    _, c_sort, key, raw_id, c_fingerprint = data
    if c_sort != sort or c_fingerprint != fingerprint:
        raise _invalid(N_("cursor belongs to a different query (filters or sort changed)"))
    try:
        listing_id = uuid.UUID(str(raw_id))
    except ValueError:
        raise _invalid(N_("malformed id")) from None
    return Cursor(sort=sort, key=_check_key(sort, key), id=listing_id)
