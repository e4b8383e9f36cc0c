"""`sichrplace bench messaging` without a stack: the chunked body and the event stream read in
pieces of any size, a held stream's id rule, the accounting of sends against what the streams
received (lost, duplicated, strays, send-to-receive), the sending plan and the verdict."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter

import orjson
import pytest

from sichrplace.bench import messaging
from sichrplace.bench.client import ProtocolError
from sichrplace.bench.messaging_load import (
    Pair,
    Plan,
    Send,
    account,
    delivery_measurement,
    send_measurement,
)
from sichrplace.bench.messaging_streams import StreamHolder, StreamState, message_id_of
from sichrplace.bench.sse import ChunkedDecoder, Frame, SseParser


def chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def event(seq: int, kind: str, data: dict[str, object]) -> bytes:
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (seq, kind.encode(), orjson.dumps(data))


def created(seq: int, message_id: str) -> bytes:
    return event(seq, "message.created", {"conversation_id": "c", "message": {"id": message_id}})


# --- the wire -------------------------------------------------------------------------------


def test_a_chunked_body_comes_out_the_same_whatever_the_reads() -> None:
    body = [b"retry: 2000\n\n", b"id: 1\nevent: x\ndata: {}\n\n", b": ping\n\n"]
    wire = chunked(*body)
    whole = ChunkedDecoder()
    assert whole.feed(wire) == b"".join(body)
    assert whole.done
    for size in (1, 2, 3, 7):
        decoder = ChunkedDecoder()
        out = b"".join(decoder.feed(wire[i : i + size]) for i in range(0, len(wire), size))
        assert out == b"".join(body)
        assert decoder.done


def test_a_chunk_extension_is_ignored_and_a_bad_size_or_missing_crlf_is_an_error() -> None:
    assert ChunkedDecoder().feed(b"3;name=v\r\nabc\r\n") == b"abc"
    with pytest.raises(ProtocolError):
        ChunkedDecoder().feed(b"zz\r\n")
    with pytest.raises(ProtocolError):
        ChunkedDecoder().feed(b"3\r\nabcX\r\n")


def test_events_comments_and_retry_are_parsed_as_the_api_writes_them() -> None:
    frames = SseParser().feed(
        b"retry: 2000\n\n" + created(7, "m1") + b": ping\n\n" + b"id: 8\ndata: a\ndata: b\n\n"
    )
    assert frames == [
        Frame(retry=2000),
        Frame(
            id="7", event="message.created", data='{"conversation_id":"c","message":{"id":"m1"}}'
        ),
        Frame(comment="ping"),
        Frame(id="8", event="message", data="a\nb"),
    ]


def test_any_split_and_any_line_ending_give_the_same_frames() -> None:
    text = created(1, "m1") + b": ping\n\n" + event(2, "notification.created", {"n": 1})
    expected = SseParser().feed(text)
    assert [f.id for f in expected if f.id] == ["1", "2"]
    assert SseParser().feed(text.replace(b"\n", b"\r\n")) == expected
    # A CR at the end of what has arrived may be half of a CRLF: it waits for the next byte.
    parser = SseParser()
    assert parser.feed(text.replace(b"\n", b"\r")) == expected[:-1]
    assert parser.feed(b"\n") == expected[-1:]
    for cut in range(len(text)):
        parser = SseParser()
        assert parser.feed(text[:cut]) + parser.feed(text[cut:]) == expected
    crlf = text.replace(b"\n", b"\r\n")
    for cut in range(len(crlf)):
        parser = SseParser()
        assert parser.feed(crlf[:cut]) + parser.feed(crlf[cut:]) == expected


def test_a_block_without_data_dispatches_nothing() -> None:
    parser = SseParser()
    assert parser.feed(b"id: 5\nevent: x\n\n") == []
    assert parser.last_event_id == "5"


def test_the_message_id_is_read_from_a_message_created_event() -> None:
    assert message_id_of('{"message": {"id": "abc"}}') == "abc"
    assert message_id_of('{"other": 1}') is None
    assert message_id_of("not json") is None


# --- a held stream --------------------------------------------------------------------------


def test_a_stream_counts_skipped_ids_as_gaps_and_old_ids_as_repeats() -> None:
    state = StreamState(0, user=3, auth="Bearer t")
    for event_id in (10, 11, 14, 14, 12, 15):
        state.note(event_id, None)
    assert (state.first_id, state.last_id) == (10, 15)
    assert state.gaps == 2  # 12 and 13 skipped between 11 and 14
    assert state.repeats == 2  # 14 again, then 12 after 14
    assert [i for i, _ in state.log] == [10, 11, 14, 15]


def test_reading_a_stream_notes_every_arrival_with_its_message() -> None:
    holder = StreamHolder("http://127.0.0.1:58080")
    state = StreamState(4, user=1, auth="Bearer t")
    holder.streams.append(state)
    body = (
        b"retry: 2000\n\n"
        + created(1, "m1")
        + event(2, "notification.created", {"id": "n"})
        + b": ping\n\n"
        + created(3, "m2")
        + created(3, "m2")  # published twice and not dropped: a repeat
        + created(5, "m3")  # 4 never came: a gap
    )

    async def read() -> None:
        # The reader belongs to the loop it is read in (made outside one, it would look
        # for the thread's loop, which an earlier asyncio.run may have closed).
        reader = asyncio.StreamReader()
        reader.feed_data(chunked(body[:30], body[30:]))
        reader.feed_eof()
        await holder._read(state, reader, ChunkedDecoder())

    asyncio.run(read())
    assert [(stream, mid) for stream, mid, _ in holder.receipts] == [
        (4, "m1"),
        (4, "m2"),
        (4, "m2"),
        (4, "m3"),
    ]
    assert holder.message_receipts == 4
    assert (state.gaps, state.repeats, holder.pings, holder.frames) == (1, 1, 1, 5)
    assert state.log == [(1, "m1"), (2, None), (3, "m2"), (5, "m3")]


# --- the accounting -------------------------------------------------------------------------


def _sent(sender: int, recipient: int, mid: str | None, started: float, status: int = 201) -> Send:
    return Send(sender, recipient, uuid.uuid4(), started, status, started + 0.01, mid)


def test_each_message_must_arrive_once_on_every_stream_of_both_participants() -> None:
    streams_of = {0: [0, 1], 1: [2, 3]}  # user -> its streams
    sends = [
        _sent(0, 1, "a", started=10.0),
        _sent(1, 0, "b", started=11.0),
        _sent(0, 1, None, started=12.0, status=429),  # not sent: nothing expected
    ]
    receipts = [
        # a: the recipient's two streams (the later one counts), the sender's two
        (2, "a", 10.05),
        (3, "a", 10.12),
        (0, "a", 10.03),
        (1, "a", 10.04),
        # b: one of the recipient's streams never gets it, one of the sender's twice
        (0, "b", 11.02),
        (2, "b", 11.01),
        (3, "b", 11.01),
        (3, "b", 11.30),
        # a message nobody saw answered 201 (an earlier phase's, or a send that timed out)
        (0, "zzz", 11.5),
    ]
    d = account(sends, receipts, streams_of)
    assert (d.expected, d.received, d.lost, d.messages_lost) == (8, 7, 1, 1)
    assert (d.duplicated, d.strays) == (1, 1)
    assert d.latencies_ms == [pytest.approx(120.0)]  # b is lost on one stream: no time
    assert d.first_ms == [pytest.approx(50.0)]
    assert d.after_answer_ms == [pytest.approx(110.0)]  # answered at 10.01


def test_nothing_lost_nothing_twice_gives_one_time_per_message() -> None:
    streams_of = {0: [0], 1: [1]}
    sends = [_sent(0, 1, f"m{i}", started=float(i)) for i in range(20)]
    receipts = [(s, f"m{i}", i + 0.001 * (i + 1)) for i in range(20) for s in (0, 1)]
    random.Random(1).shuffle(receipts)
    d = account(sends, receipts, streams_of)
    assert (d.lost, d.duplicated, d.strays, d.received) == (0, 0, 0, 40)
    assert sorted(d.latencies_ms) == pytest.approx([i + 1.0 for i in range(20)])
    m = delivery_measurement(d, seconds=2.0)
    assert (m.requests, m.errors, m.rps) == (20, 0, 10.0)
    assert m.p95_ms == pytest.approx(19.0)


def test_the_send_measurement_times_201s_and_counts_everything_else_as_errors() -> None:
    sends = [_sent(0, 1, "a", 1.0), _sent(0, 1, None, 2.0, status=429)]
    sends.append(Send(0, 1, uuid.uuid4(), 3.0))  # no answer
    m = send_measurement(sends, seconds=1.0)
    assert (m.requests, m.errors, m.rps) == (3, 2, 3.0)
    assert m.p50_ms == pytest.approx(10.0)


# --- the plan and the verdict ---------------------------------------------------------------


def test_every_participant_sends_once_per_round_to_its_partner() -> None:
    pairs = [Pair(uuid.uuid4(), tenant=i, landlord=3 + i) for i in range(3)]
    senders = Plan(pairs).senders(random.Random(2))
    partner = {p.tenant: p.landlord for p in pairs} | {p.landlord: p.tenant for p in pairs}
    for _ in range(3):
        round_ = [next(senders) for _ in range(6)]
        assert Counter(s for s, _, _ in round_) == Counter(range(6))
        assert all(partner[s] == r for s, r, _ in round_)


def test_streams_are_dealt_to_the_users_in_turn() -> None:
    cfg = messaging.MessagingBenchConfig(connections=1000, streams_per_user=2)
    assert cfg.users == 500
    owners = messaging.stream_owners(cfg.users, cfg.connections)
    by_user = messaging.streams_by_user(owners)
    assert len(by_user) == 500
    assert by_user[7] == [7, 507]
    assert messaging.MessagingBenchConfig(connections=5, streams_per_user=1).users == 6


def _median(p95: float) -> dict[str, float]:
    return {"rps": 100.0, "p50_ms": p95 / 2, "p95_ms": p95, "p99_ms": p95, "errors": 0}


def test_the_verdict_needs_every_target_and_every_check() -> None:
    median = {
        "send": _median(40.0),
        "send_to_receive": _median(120.0),
        "me": _median(20.0),
        "pubsub": _median(0.5),
    }
    requests = {"send": 100, "send_to_receive": 100}
    passed = messaging.verdicts(median, {}, requests)
    assert passed["passed"]
    assert passed["targets"]["send"]["p95_ratio"] == 2.0
    assert not messaging.verdicts(median, {"lost": 1}, requests)["passed"]
    assert not messaging.verdicts(median, {}, {"send": 100})["passed"]  # nothing received
    median["send"] = _median(51.0)
    failed = messaging.verdicts(median, {}, requests)
    assert not failed["passed"]
    assert "MISS" in messaging.table(median, failed)
