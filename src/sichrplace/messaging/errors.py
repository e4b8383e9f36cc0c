"""Messaging problems (problem+json `type` slugs are stable)."""

from __future__ import annotations

from sichrplace.kit.errors import NotFound, TooManyRequests, Unprocessable
from sichrplace.kit.i18n import N_


class ConversationNotFound(NotFound):
    """Also what everyone but the two participants gets: a conversation is never revealed."""

    slug = "conversation-not-found"

    def __init__(self) -> None:
        super().__init__(N_("No such conversation."))


class SendRateLimited(TooManyRequests):
    slug = "message-rate-limited"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            retry_after, N_("Too many messages in a short time; please wait a moment.")
        )


def own_listing() -> Unprocessable:
    return Unprocessable.field(
        "listing_id",
        N_("a landlord cannot start a conversation about their own listing"),
        slug="own-listing",
    )


def message_not_in_conversation() -> Unprocessable:
    return Unprocessable.field(
        "up_to_message_id",
        N_("is not a message of this conversation"),
        slug="message-not-in-conversation",
    )


def not_a_cursor(field: str) -> Unprocessable:
    return Unprocessable.field(field, N_("is not a cursor of this list"), slug="invalid-cursor")
