"""Notification rules as pure functions (no I/O): what a queued email must look like."""

from __future__ import annotations

from sichrplace.kit.errors import Unprocessable
from sichrplace.kit.i18n import N_

MAX_DEDUPE_KEY = 200  # the key column's width


def _check_header(field: str, value: str) -> None:
    # A line break in a header would let a value add headers of its own (e.g. Bcc).
    if not value or "\r" in value or "\n" in value:
        raise Unprocessable.field(field, N_("must be a non-empty single line"))


def check_email(*, to: str, subject: str, dedupe_key: str) -> None:
    """422 naming the first field a mail could not be sent with."""
    _check_header("to", to)
    if "@" not in to:
        raise Unprocessable.field("to", N_("must be an email address"))
    _check_header("subject", subject)
    if not dedupe_key or len(dedupe_key) > MAX_DEDUPE_KEY:
        raise Unprocessable.field("dedupe_key", N_("must be 1 to {n} characters", n=MAX_DEDUPE_KEY))


MAX_ID = 2**63 - 1  # bigserial


def decode_cursor(cursor: str) -> int:
    """A list cursor is the id to continue below; anything else is 422 naming `cursor`."""
    if not cursor.isascii() or not cursor.isdigit() or not 0 < int(cursor) <= MAX_ID:
        raise Unprocessable.field("cursor", N_("is not a cursor of this list"))
    return int(cursor)
