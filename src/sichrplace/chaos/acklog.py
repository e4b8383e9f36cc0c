"""The mixed load's ack log (the issue 20 contract): JSON lines in `acks-*.jsonl`, one object
per acknowledged write (written after its 2xx answer) or per event a listener read.

    {"kind":"booking",  "viewing_id":U, "slot_id":U, "tenant_id":U, "key":S, "at":T}
    {"kind":"intent",   "payment_id":U, "viewing_id":U, "key":S, "at":T}
    {"kind":"approved", "payment_id":U, "viewing_id":U, "ref":S, "at":T}
    {"kind":"message",  "message_id":U, "conversation_id":U, "client_message_id":U,
                        "sender_id":U, "recipient_id":U, "at":T}
    {"kind":"signature","contract_id":U, "party":"tenant"|"landlord", "user_id":U, "at":T}
    {"kind":"event",    "user_id":U, "event_id":N, "type":S, "message_id":U|null, "at":T}
    {"kind":"listener", "user_id":U, "last_event_id":N, "at":T}

Records are kept as read (dicts of the kind's fields), grouped by kind; `write_acks` writes
the same format (the tests build small logs from real API calls with it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

KINDS = ("booking", "intent", "approved", "message", "signature", "event", "listener")
Record = dict[str, Any]


class AckLogError(ValueError):
    """A line of an ack log is not a record of the contract (the file and line say where)."""


@dataclass
class AckLog:
    """Every record of the log files, by kind, in the order of `at`."""

    records: dict[str, list[Record]] = field(default_factory=lambda: {k: [] for k in KINDS})

    def of(self, kind: str) -> list[Record]:
        return self.records[kind]

    def add(self, record: Record) -> None:
        kind = record.get("kind")
        if kind not in self.records:
            raise AckLogError(f"unknown kind {kind!r}")
        if not isinstance(record.get("at"), (int, float)):
            raise AckLogError(f"a {kind} record without its time: {record}")
        self.records[kind].append(record)

    @property
    def first_at(self) -> float | None:
        times = [r["at"] for rs in self.records.values() for r in rs]
        return min(times) if times else None

    @property
    def last_at(self) -> float | None:
        times = [r["at"] for rs in self.records.values() for r in rs]
        return max(times) if times else None

    def counts(self) -> dict[str, int]:
        return {kind: len(rs) for kind, rs in self.records.items()}


def read_acks(paths: Iterable[Path]) -> AckLog:
    """The records of these files (blank lines skipped; a torn last line, from a process
    killed mid-write, is skipped too: its write was not acknowledged to anyone yet)."""
    log = AckLog()
    for path in paths:
        lines = path.read_bytes().splitlines()
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                if number == len(lines) and not line.endswith(b"}"):
                    continue
                raise AckLogError(f"{path}:{number}: not JSON: {exc}") from exc
            if not isinstance(record, dict):
                raise AckLogError(f"{path}:{number}: not an object")
            try:
                log.add(record)
            except AckLogError as exc:
                raise AckLogError(f"{path}:{number}: {exc}") from exc
    for records in log.records.values():
        records.sort(key=lambda r: float(r["at"]))
    return log


def write_acks(path: Path, records: Sequence[Mapping[str, Any]]) -> Path:
    """Append records to an ack log file (one JSON object a line)."""
    with path.open("ab") as fh:
        for record in records:
            fh.write(orjson.dumps(dict(record)) + b"\n")
    return path
