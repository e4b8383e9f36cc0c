"""schemathesis hooks of `sichrplace check api` (loaded via SCHEMATHESIS_HOOKS): about half of
the generated ids are replaced by ids of resources that exist, so lookups reach the code
behind a found resource rather than only its 404."""

from __future__ import annotations

import hashlib
import os
import uuid
from typing import Any

import schemathesis

_REAL = {
    "listing_id": "SICHRPLACE_FUZZ_LISTING_ID",
    "image_id": "SICHRPLACE_FUZZ_IMAGE_ID",
    "user_id": "SICHRPLACE_FUZZ_USER_ID",
}


def _valid(value: object) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _heads(value: object) -> bool:
    # Deterministic (the run is seeded): the generated value itself decides.
    return hashlib.blake2b(repr(value).encode(), digest_size=1).digest()[0] % 2 == 0


@schemathesis.hook
def map_path_parameters(
    ctx: schemathesis.HookContext, path_parameters: dict[str, Any] | None
) -> dict[str, Any] | None:
    if not path_parameters:
        return path_parameters
    out = dict(path_parameters)
    if _heads(tuple(sorted(out.items()))):
        for name, env in _REAL.items():
            real = os.environ.get(env)
            # Only a valid id is swapped: a negative case must stay invalid.
            if name in out and real and _valid(out[name]):
                out[name] = real
    return out
