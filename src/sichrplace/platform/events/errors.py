"""Problems of the event stream (problem+json `type` slugs are stable; German first)."""

from __future__ import annotations

from sichrplace.kit.errors import ServiceUnavailable, TooManyRequests, Unprocessable


class TooManyStreams(TooManyRequests):
    slug = "too-many-event-streams"

    def __init__(self, retry_after: int, limit: int) -> None:
        super().__init__(
            retry_after,
            f"Zu viele offene Ereignis-Streams (höchstens {limit}); bitte einen schließen. / "
            f"Too many open event streams (at most {limit}); close one first.",
        )


class StreamsUnavailable(ServiceUnavailable):
    """This instance takes no more streams (full, or shutting down): another one will."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "Diese Instanz nimmt gerade keine Ereignis-Streams an; bitte erneut verbinden. / "
            "This instance is not taking event streams right now; reconnect shortly.",
            retry_after=retry_after,
        )


def bad_last_event_id(field: str) -> Unprocessable:
    return Unprocessable.field(
        field,
        "Muss eine Ereignis-ID (eine ganze Zahl ab 0) sein. / "
        "must be an event id (a whole number from 0)",
    )
