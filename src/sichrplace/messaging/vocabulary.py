"""The messaging domain's words: limits of a message and the kinds of events it emits."""

from __future__ import annotations

from typing import Final

# A message's text, after trimming (the table's check says the same).
MAX_BODY: Final = 5000
MAX_CLIENT_MESSAGE_ID: Final = 100
# How much of the last message a conversation list shows.
EXCERPT_LENGTH: Final = 140

# Kinds of the per-user events (platform.events) the domain emits.
MESSAGE_CREATED: Final = "message.created"
CONVERSATION_READ: Final = "conversation.read"
