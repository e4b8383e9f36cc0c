"""Synthetic traffic: how the platform tells the synthetic monitors' requests and records from
real ones, so that business counters and analytics leave them out (ops/synthetic runs them).

Two marks, because a change is counted in two kinds of places:

- a request carrying `X-Synthetic: 1` runs with `active()` true (RequestIdMiddleware sets it
  for the request's context): the anonymous reads (search, a listing's detail) and anything
  counted in that request;
- a synthetic account's id lies in a reserved range (`synthetic_user_id(n)`), so code that
  holds a party's id tells it apart without I/O: a provider's webhook (no header) that
  confirms a synthetic tenant's payment is left out by `excluded(payer_id)`.

The header alone only hides the sender's own traffic from statistics (it changes no data and
no answer), so a client that sends it harms nobody but the figures it asked to leave.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

HEADER = "X-Synthetic"
HEADER_KEY = b"x-synthetic"  # as ASGI lists it (lower case)
EMAIL_DOMAIN = "synthetic.sichrplace.invalid"
# The reserved ids: the first 96 bits fixed, the last 32 the account's number. A random
# (version 4) id has 122 random bits; one matching these 96 is not a practical event.
_PREFIX = uuid.UUID("5e7e71c0-5e7e-4e7e-8e7e-000000000000").int
_LOW_BITS = 32
_PREFIX_MASK = ((1 << 128) - 1) ^ ((1 << _LOW_BITS) - 1)

_active: ContextVar[bool] = ContextVar("sichrplace_synthetic", default=False)


def synthetic_user_id(number: int) -> uuid.UUID:
    """The id of synthetic account `number` (0 <= number < 2**32)."""
    if not 0 <= number < 1 << _LOW_BITS:
        raise ValueError(f"synthetic account number out of range: {number}")
    return uuid.UUID(int=_PREFIX | number)


def is_synthetic_user(user_id: uuid.UUID) -> bool:
    return (user_id.int & _PREFIX_MASK) == _PREFIX


def header_marks(value: bytes | None) -> bool:
    """Whether a request's `X-Synthetic` value marks it synthetic ("1" or "true")."""
    return value is not None and value.strip().lower() in (b"1", b"true")


def active() -> bool:
    """True inside a request (or block) marked synthetic."""
    return _active.get()


def excluded(*parties: uuid.UUID | None) -> bool:
    """Whether an event is synthetic: its request is marked, or one of its parties is a
    synthetic account (business counters and analytics skip it)."""
    return _active.get() or any(p is not None and is_synthetic_user(p) for p in parties)


@contextmanager
def marked(on: bool = True) -> Iterator[None]:
    """Run the block as synthetic (when `on`); the previous state afterwards."""
    token = _active.set(on or _active.get())
    try:
        yield
    finally:
        _active.reset(token)
