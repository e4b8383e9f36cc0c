"""A local SMTP sink (aiosmtpd) that stores each message as an .eml file, and its reader.

The local stack runs it in place of a mail provider; tests read what arrived.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import signal
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from typing import Any

import structlog
from aiosmtpd.smtp import SMTP

from sichrplace.config import StackSettings

log = structlog.get_logger(__name__)


def mail_dir(stack: StackSettings) -> Path:
    """Where the stack's sink stores mail: <data dir>/mail."""
    return stack.data_dir / "mail"


def store_message(directory: Path, mail_from: str, rcpt_tos: list[str], content: bytes) -> Path:
    """Write DIR/<utc-timestamp>-<uuid>.eml atomically (readers never see half a file)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    name = f"{stamp}-{uuid.uuid4().hex}.eml"
    envelope = f"X-Envelope-From: {mail_from}\r\nX-Envelope-To: {', '.join(rcpt_tos)}\r\n"
    tmp = directory / f".{name}.tmp"
    tmp.write_bytes(envelope.encode() + content)
    os.replace(tmp, directory / name)
    return directory / name


class SinkHandler:
    """aiosmtpd handler: accept everything, keep it on disk."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode()
        path = await asyncio.to_thread(
            store_message, self.directory, envelope.mail_from, list(envelope.rcpt_tos), content
        )
        log.info("mail_stored", path=str(path), rcpt=list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


async def serve_sink(host: str, port: int, directory: Path) -> None:
    """Serve until SIGTERM/SIGINT."""
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    handler = SinkHandler(directory)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="sichrplace-sink", enable_SMTPUTF8=True), host, port
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("mail_sink_listening", host=host, port=port, directory=str(directory))
    async with server:
        await stop.wait()
    log.info("mail_sink_stopped")


def parse_message(path: Path) -> EmailMessage:
    with path.open("rb") as fh:
        msg = email.message_from_binary_file(fh, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def iter_messages(directory: Path) -> Iterator[tuple[Path, EmailMessage]]:
    """Stored messages, oldest first (file names start with the UTC time)."""
    if not directory.is_dir():
        return
    for path in sorted(directory.glob("*.eml")):
        yield path, parse_message(path)


def recipients(msg: EmailMessage) -> set[str]:
    """Lower-cased addresses from To/Cc and the envelope."""
    values = [str(v) for key in ("To", "Cc", "X-Envelope-To") for v in msg.get_all(key, [])]
    return {addr.lower() for _, addr in getaddresses(values) if addr}
