"""JSON the way every response and cached value spells it: orjson, UTC timestamps with `Z`.

Cached values are stored in this form and read responses are serialised with it directly
(no second validation through a response model), so a value reads the same whether it came
from the cache or from the database, and the same as a response-model-validated body."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

_OPTIONS = orjson.OPT_UTC_Z


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=_OPTIONS)


def utc_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with `Z`, exactly as `dumps` writes a datetime."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
