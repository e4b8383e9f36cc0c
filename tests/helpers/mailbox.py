"""Read what the local SMTP sink caught (`sichrplace mail sink` writes one .eml per message)."""

from __future__ import annotations

import asyncio
import time
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from email.utils import getaddresses
from pathlib import Path

from sichrplace.config import get_settings
from sichrplace.notifications.sink import mail_dir, parse_message

# Stored files never change (the sink renames them into place), so headers are parsed once.
_headers: dict[Path, tuple[frozenset[str], str]] = {}


def _summary(path: Path) -> tuple[frozenset[str], str]:
    cached = _headers.get(path)
    if cached is None:
        with path.open("rb") as fh:
            headers = BytesHeaderParser(policy=default_policy).parse(fh)
        values = [str(v) for k in ("To", "Cc", "X-Envelope-To") for v in headers.get_all(k, [])]
        rcpts = frozenset(addr.lower() for _, addr in getaddresses(values) if addr)
        cached = _headers[path] = (rcpts, str(headers.get("Subject", "")))
    return cached


def mails_to(
    to: str, *, subject_contains: str | None = None, directory: Path | None = None
) -> list[EmailMessage]:
    """Every stored message for `to` (case-insensitive), oldest first."""
    folder = directory or mail_dir(get_settings().stack)
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.eml")):
        rcpts, subject = _summary(path)
        if to.lower() in rcpts and (subject_contains is None or subject_contains in subject):
            found.append(parse_message(path))
    return found


async def wait_for_mail(
    to: str,
    *,
    subject_contains: str | None = None,
    timeout: float = 15,  # noqa: ASYNC109  (the signature the accounts tests use)
    directory: Path | None = None,
) -> EmailMessage:
    """The first message to `to` (optionally with `subject_contains` in the subject).

    Polls the sink's folder (default: `<stack data dir>/mail`); fails after `timeout` s.
    """
    folder = directory or mail_dir(get_settings().stack)
    deadline = time.monotonic() + timeout
    while True:
        found = await asyncio.to_thread(
            mails_to, to, subject_contains=subject_contains, directory=folder
        )
        if found:
            return found[0]
        if time.monotonic() > deadline:
            wanted = f" with {subject_contains!r} in the subject" if subject_contains else ""
            raise AssertionError(f"no mail to {to}{wanted} in {folder} within {timeout}s")
        await asyncio.sleep(0.1)
