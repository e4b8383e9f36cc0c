"""The invariants' pure parts: the ack log's reading, the ledger's rule, the event stream's
and the messages' findings."""

from __future__ import annotations

from pathlib import Path

import pytest

from sichrplace.chaos.acklog import AckLogError, read_acks, write_acks
from sichrplace.chaos.check import verdict
from sichrplace.chaos.delivery import message_findings, received_from, stream_findings
from sichrplace.chaos.ledger import Entries, expected_entries


def test_ack_log_is_read_by_kind_in_time_order_and_a_torn_last_line_is_skipped(
    tmp_path: Path,
) -> None:
    path = write_acks(
        tmp_path / "acks-1.jsonl",
        [
            {"kind": "event", "user_id": "u", "event_id": 2, "type": "x", "at": 2.0},
            {"kind": "event", "user_id": "u", "event_id": 1, "type": "x", "at": 1.0},
        ],
    )
    with path.open("ab") as fh:
        fh.write(b'{"kind":"event","user_id":"u","ev')
    log = read_acks([path])
    assert [r["event_id"] for r in log.of("event")] == [1, 2]
    assert (log.first_at, log.last_at) == (1.0, 2.0)


def test_ack_log_refuses_an_unknown_kind(tmp_path: Path) -> None:
    path = write_acks(tmp_path / "acks-1.jsonl", [{"kind": "payment", "at": 1.0}])
    with pytest.raises(AckLogError, match=r"acks-1\.jsonl:1"):
        read_acks([path])


def test_ledger_rule() -> None:
    assert expected_entries("succeeded", 2500) == Entries(1, 2500, 0, 0)
    assert expected_entries("refund_pending", 2500) == Entries(1, 2500, 0, 0)
    assert expected_entries("refunded", 2500) == Entries(1, 2500, 1, -2500)
    assert expected_entries("requires_action", 2500) == Entries(0, 0, 0, 0)
    assert expected_entries("failed", 2500) == Entries(0, 0, 0, 0)


def test_stream_findings() -> None:
    assert stream_findings("u", [5, 6, 7], newest=7) == []
    assert stream_findings("u", [5, 6, 6, 7], newest=7) == ["u: event 6 read 2 times"]
    assert stream_findings("u", [5, 8], newest=8) == ["u: events 6..7 missing"]
    assert stream_findings("u", [5], newest=7) == ["u: events 6..7 never read"]


def test_message_findings() -> None:
    received = {"r": [(4, None), (5, "m1"), (6, "m2"), (7, "m2")]}
    expected = [
        ("m0", "r", 3),  # before the recipient listened
        ("m1", "r", 5),
        ("m2", "r", 6),  # read twice
        ("m3", "r", None),  # no event at all
        ("m4", "other", 9),  # not a listener
    ]
    assert message_findings(received, expected) == [
        "message m2: read 2 times by r",
        "message m3: no event for its recipient r",
    ]


def test_received_from_takes_the_listeners_last_ids(tmp_path: Path) -> None:
    path = write_acks(
        tmp_path / "a.jsonl",
        [
            {"kind": "event", "user_id": "u", "event_id": 3, "message_id": "m", "at": 1},
            {"kind": "listener", "user_id": "u", "last_event_id": 4, "at": 2},
            {"kind": "listener", "user_id": "v", "last_event_id": 9, "at": 2},
        ],
    )
    got = received_from(read_acks([path]))
    assert (got["u"].events, got["u"].last_id) == ([(3, "m")], 4)
    assert (got["v"].events, got["v"].last_id) == ([], 9)


def test_verdict_names_each_offender_once() -> None:
    check = verdict("x", 10, ["a", "b", "a", "c", "d", "e", "f"])
    assert (check.offending, check.first, check.held) == (6, ("a", "b", "c", "d", "e"), False)
    assert verdict("x", 3, []).held
