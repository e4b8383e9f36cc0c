"""Every event delivered once: per listener user, the ids it read (the ack log's `event`
records) and those a final reconnect with `Last-Event-ID` reads (GET /api/v1/events through
nginx, as the user) are consecutive, none twice, up to the user's newest event; every
acknowledged message to a listening recipient was among them exactly once.

A listener's first stream starts with what happens from then on, so a user's ids start
where it began listening; a message whose event came before that is not the listener's.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import psycopg

from sichrplace.bench.booking_setup import Member, bearer_headers
from sichrplace.bench.messaging_streams import message_id_of
from sichrplace.bench.sse import SseParser
from sichrplace.chaos.acklog import AckLog
from sichrplace.chaos.check import Check, rows, verdict
from sichrplace.config import Settings

MESSAGE_CREATED = "message.created"
# The final reconnect reads a user's missed events; a quiet stream sends a ping every few
# seconds, so this bounds the wait for an event that will not come.
FINAL_READ_S = 10.0


@dataclass
class Received:
    """What one user's listeners read, in order: (event id, message id or None)."""

    events: list[tuple[int, str | None]] = field(default_factory=list)
    last_id: int = 0


def received_from(acks: AckLog) -> dict[str, Received]:
    """The listener users' reads from the log, in the order of `at`."""
    out: dict[str, Received] = defaultdict(Received)
    for r in acks.of("event"):
        got = out[str(r["user_id"])]
        message = r.get("message_id")
        got.events.append((int(r["event_id"]), str(message) if message else None))
        got.last_id = max(got.last_id, int(r["event_id"]))
    for r in acks.of("listener"):
        got = out[str(r["user_id"])]
        got.last_id = max(got.last_id, int(r["last_event_id"]))
    return dict(out)


def stream_findings(user: str, ids: Sequence[int], newest: int) -> list[str]:
    """A user's ids broke the stream's rule: repeated, skipped, or short of `newest`."""
    bad = [f"{user}: event {i} read {n} times" for i, n in Counter(ids).items() if n > 1]
    ordered = sorted(set(ids))
    for a, b in itertools.pairwise(ordered):
        if b - a > 1:
            bad.append(f"{user}: events {a + 1}..{b - 1} missing")
    if ordered and ordered[-1] < newest:
        bad.append(f"{user}: events {ordered[-1] + 1}..{newest} never read")
    return bad


def message_findings(
    received: Mapping[str, Sequence[tuple[int, str | None]]],
    expected: Sequence[tuple[str, str, int | None]],
) -> list[str]:
    """Each (message, recipient, the recipient's event id for it) whose event id is at or
    after where the recipient began listening must have been read exactly once."""
    bad = []
    for message, user, event_id in expected:
        events = received.get(user)
        if not events:
            continue
        if event_id is None:
            bad.append(f"message {message}: no event for its recipient {user}")
            continue
        if event_id < min(i for i, _ in events):
            continue  # sent before the recipient listened
        count = sum(1 for _, m in events if m == message)
        if count != 1:
            bad.append(f"message {message}: read {count} times by {user}")
    return bad


def _newest(conn: psycopg.Connection, users: Sequence[str]) -> dict[str, int]:
    return {
        str(u): int(s)
        for u, s in rows(
            conn,
            "SELECT user_id, last_seq FROM user_event_counters WHERE user_id = ANY(%s::uuid[])",
            [list(users)],
        )
    }


def _message_events(
    conn: psycopg.Connection, acks: AckLog, users: Sequence[str]
) -> list[tuple[str, str, int | None]]:
    """(message, recipient, the recipient's event id) of the acked messages to listeners."""
    listening = set(users)
    wanted = [
        (str(r["message_id"]), str(r["recipient_id"]))
        for r in acks.of("message")
        if str(r["recipient_id"]) in listening
    ]
    seqs = {
        (str(m), str(u)): int(s)
        for u, s, m in rows(
            conn,
            "SELECT e.user_id, e.seq, e.data->'message'->>'id' FROM user_events e"
            " WHERE e.user_id = ANY(%s::uuid[]) AND e.kind = %s"
            " AND e.data->'message'->>'id' = ANY(%s)",
            [sorted({u for _, u in wanted}), MESSAGE_CREATED, [m for m, _ in wanted]],
        )
    }
    return [(m, u, seqs.get((m, u))) for m, u in wanted]


def bearer_for(conn: psycopg.Connection, settings: Settings, user: str) -> str | None:
    """A fresh access token of the user, on one of its live sessions (None: it has none)."""
    found = rows(
        conn,
        "SELECT u.id, u.email::text, u.role, f.id FROM users u"
        " JOIN refresh_token_families f ON f.user_id = u.id AND f.revoked_at IS NULL"
        " WHERE u.id = %s ORDER BY f.created_at DESC LIMIT 1",
        [uuid.UUID(user)],
    )
    if not found:
        return None
    uid, email, role, session = found[0]
    return bearer_headers(settings, [Member(uid, email, role, session)], datetime.now(UTC))[0]


def final_read(
    base_url: str, auth: str, after: int, until: int, timeout_s: float = FINAL_READ_S
) -> list[tuple[int, str | None]]:
    """The events a new stream with `Last-Event-ID: after` sends, up to id `until`."""
    got: list[tuple[int, str | None]] = []
    deadline = time.monotonic() + timeout_s
    headers = {"Authorization": auth, "Last-Event-ID": str(after)}
    timeout = httpx.Timeout(timeout_s, read=timeout_s)
    try:
        with (
            httpx.Client(base_url=base_url, timeout=timeout) as http,
            http.stream("GET", "/api/v1/events", headers=headers) as response,
        ):
            if response.status_code != 200:
                return got
            parser = SseParser()
            for chunk in response.iter_bytes():
                for frame in parser.feed(chunk):
                    if frame.id is None or not frame.id.isdigit():
                        continue
                    message = None
                    if frame.event == MESSAGE_CREATED and frame.data is not None:
                        message = message_id_of(frame.data)
                    got.append((int(frame.id), message))
                if (got and got[-1][0] >= until) or time.monotonic() > deadline:
                    break
    except httpx.HTTPError:
        pass
    return got


def events_delivered(
    conn: psycopg.Connection,
    settings: Settings,
    acks: AckLog,
    *,
    base_url: str | None = None,
    tokens: Mapping[str, str] | None = None,
) -> list[Check]:
    """The stream check and the message check, after a final reconnect per listener user
    (`tokens`: user id -> Authorization value; missing ones are signed from a live session)."""
    url = base_url or settings.app.public_base_url
    received = received_from(acks)
    users = sorted(received)
    newest = _newest(conn, users)
    stream_bad: list[str] = []
    for user in users:
        got = received[user]
        until = newest.get(user, 0)
        if until > got.last_id:
            auth = (tokens or {}).get(user) or bearer_for(conn, settings, user)
            if auth is None:
                stream_bad.append(f"{user}: no live session to reconnect with")
                continue
            got.events.extend(final_read(url, auth, got.last_id, until))
        stream_bad += stream_findings(user, [i for i, _ in got.events], until)
    expected = _message_events(conn, acks, users)
    message_bad = message_findings({u: r.events for u, r in received.items()}, expected)
    checked = sum(len(r.events) for r in received.values())
    return [
        verdict("events consecutive, none twice", checked, stream_bad, note=f"{len(users)} users"),
        verdict("messages delivered once to listeners", len(expected), message_bad),
    ]
