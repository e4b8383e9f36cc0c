"""Problems of the event stream (problem+json `type` slugs are stable)."""

from __future__ import annotations

from sichrplace.kit.errors import ServiceUnavailable, TooManyRequests, Unprocessable
from sichrplace.kit.i18n import N_


class TooManyStreams(TooManyRequests):
    slug = "too-many-event-streams"

    def __init__(self, retry_after: int, limit: int) -> None:
        super().__init__(
            retry_after,
            N_("Too many open event streams (at most {n}); close one first.", n=limit),
        )


class StreamsUnavailable(ServiceUnavailable):
    """This instance takes no more streams (full, or shutting down): another one will."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            N_("This instance is not taking event streams right now; reconnect shortly."),
            retry_after=retry_after,
        )


def bad_last_event_id(field: str) -> Unprocessable:
    return Unprocessable.field(
        field,
        N_("must be an event id (a whole number from 0)"),
    )
