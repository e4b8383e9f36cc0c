"""The notifications' words: kinds, and the event the stream carries for a new one."""

from __future__ import annotations

from typing import Final

# A new message in a conversation (one unread notification per conversation summarises them).
MESSAGE: Final = "message"
# A viewing was confirmed, cancelled or expired (both parties).
VIEWING: Final = "viewing"

NOTIFICATION_CREATED: Final = "notification.created"
