"""Postgres high availability under write load through nginx (Patroni, HAProxy, PgBouncer).

The leader crashes (its Patroni and Postgres SIGKILLed): the synchronous standby is promoted,
writes come back within 30 s, every write answered 2xx is in the database and none is
applied twice, and the old leader rejoins as a replica (pg_rewind). A planned switchover
fails no request at all.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from sqlalchemy import text

from sichrplace.config import PROJECT_ROOT, Settings
from sichrplace.platform.db.engines import Database
from sichrplace.stack.ha import patroni
from sichrplace.stack.ha.config import node_index, patroni_program
from sichrplace.stack.layout import Layout
from tests.stack import write_load
from tests.stack.conftest import ctl

pytestmark = pytest.mark.stack

# The acceptance bound: writes succeed again within this long after the leader died.
WRITES_BACK_WITHIN = 30.0
REPORT = PROJECT_ROOT / "build" / "test-artifacts" / "failover.json"


async def _healthy_pair(settings: Settings) -> patroni.Cluster:
    return await asyncio.to_thread(patroni.wait_sync_standby, settings, 180)


async def _stored(db: Database, load: write_load.Load) -> tuple[dict[str, int], dict[str, int]]:
    """How many rows each attempted key has: messages by client_message_id, bookings by the
    Idempotency-Key's stored response."""
    async with db.primary.connect() as conn:
        messages: dict[str, int] = dict(
            (
                await conn.execute(
                    text(
                        "SELECT client_message_id, count(*) FROM messages"
                        " WHERE client_message_id = ANY(:keys) GROUP BY client_message_id"
                    ),
                    {"keys": sorted(load.keys("message"))},
                )
            ).all()
        )
        acked = load.acknowledged("booking")
        bookings: dict[str, int] = dict(
            (
                await conn.execute(
                    text("SELECT id::text, 1 FROM viewings WHERE id::text = ANY(:ids)"),
                    {"ids": sorted(acked.values())},
                )
            ).all()
        )
    return messages, bookings


def _write_report(name: str, figures: dict[str, object]) -> None:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(REPORT.read_text()) if REPORT.exists() else {}
    data[name] = figures
    REPORT.write_text(json.dumps(data, indent=2) + "\n")


async def _verify(db: Database, load: write_load.Load) -> tuple[int, int]:
    messages, bookings = await _stored(db, load)
    acked_messages = load.acknowledged("message")
    missing = [k for k in acked_messages if messages.get(k, 0) != 1]
    assert not missing, f"acknowledged messages missing: {missing[:5]} of {len(missing)}"
    twice = {k: n for k, n in messages.items() if n > 1}
    assert not twice, f"messages stored twice: {twice}"
    acked_bookings = load.acknowledged("booking")
    lost = [b for b in acked_bookings.values() if b not in bookings]
    assert not lost, f"acknowledged bookings missing: {lost[:5]} of {len(lost)}"
    # A retried booking (same Idempotency-Key) answered with the first booking, never a
    # second one: one booking id per key, one booking per slot.
    per_key: dict[str, set[str]] = {}
    for a in load.attempts:
        if a.kind == "booking" and a.resource_id:
            per_key.setdefault(a.key, set()).add(a.resource_id)
    assert all(len(ids) == 1 for ids in per_key.values()), per_key
    return len(acked_messages), len(acked_bookings)


async def _double_bookings(db: Database, listing_id: str) -> int:
    async with db.primary.connect() as conn:
        value = await conn.scalar(
            text(
                "SELECT count(*) FROM (SELECT slot_id FROM viewings b"
                " JOIN viewing_slots s ON s.id = b.slot_id WHERE s.listing_id = :l"
                " GROUP BY slot_id HAVING count(*) > 1) d"
            ),
            {"l": listing_id},
        )
    return int(value or 0)


async def test_leader_crash_under_write_load_loses_no_acknowledged_write(
    settings: Settings, layout: Layout, db: Database, client: httpx.AsyncClient, stack_url: str
) -> None:
    before = await _healthy_pair(settings)
    old = before.leader
    assert old is not None
    assert before.sync_standby is not None
    log_file = layout.logs / f"{patroni_program(node_index(old))}.log"
    log_offset = log_file.stat().st_size
    scene = await write_load.build_scene(client, db, settings, slots=90, conversations=6)
    load = write_load.Load()
    writers = asyncio.create_task(write_load.run(stack_url, scene, load))
    try:
        await asyncio.sleep(4)
        assert load.acknowledged("message"), "no write succeeded before the crash"
        crashed_at = time.monotonic()
        await asyncio.to_thread(patroni.crash, settings, layout, old)
        new = await asyncio.to_thread(
            patroni.wait_for, settings, "a new leader", lambda c: c.leader not in (None, old), 60
        )
        promoted_at = time.monotonic()
        # Writes go on until some have succeeded for a while on the new leader.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            recent = [a for a in load.attempts if a.started > promoted_at + 1 and a.status == 201]
            if len(recent) >= 10:
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(3)
    finally:
        load.stop.set()
        await asyncio.wait_for(writers, timeout=120)
        # The old leader comes back (as a machine would be restarted) and must follow.
        ctl(layout, "start", patroni_program(node_index(old)))
    outage = load.longest_gap(after=crashed_at)
    assert outage <= WRITES_BACK_WITHIN, f"writes were unavailable for {outage:.1f}s"
    messages, bookings = await _verify(db, load)
    assert await _double_bookings(db, scene.listing_id) == 0
    after = await _healthy_pair(settings)
    assert after.leader == new.leader
    rejoined = {m.name: m for m in after.members}[old]
    assert rejoined.role in ("sync_standby", "replica"), after
    assert rejoined.timeline == max(m.timeline or 0 for m in after.members), after
    with log_file.open() as fh:
        fh.seek(log_offset)
        rewind_log = fh.read()
    _write_report(
        "leader_crash",
        {
            "writes_unavailable_seconds": round(outage, 2),
            "promoted_after_seconds": round(promoted_at - crashed_at, 2),
            "acknowledged_messages": messages,
            "acknowledged_bookings": bookings,
            "failed_attempts": len(load.failures()),
            "old_leader": old,
            "new_leader": new.leader,
            "rewound": "pg_rewind exit code=0" in rewind_log,
        },
    )


async def test_switchover_under_write_load_fails_no_request(
    settings: Settings, layout: Layout, db: Database, client: httpx.AsyncClient, stack_url: str
) -> None:
    before = await _healthy_pair(settings)
    scene = await write_load.build_scene(client, db, settings, slots=60, conversations=6)
    load = write_load.Load()
    writers = asyncio.create_task(write_load.run(stack_url, scene, load))
    try:
        await asyncio.sleep(3)
        old, new, seconds = await asyncio.to_thread(patroni.switchover, settings, layout)
        await asyncio.sleep(4)  # and writes go on a while on the new leader
    finally:
        load.stop.set()
        await asyncio.wait_for(writers, timeout=120)
    assert (old, new) == (before.leader, before.sync_standby)
    failures = load.failures()
    assert not failures, [(f.kind, f.status) for f in failures[:10]]
    messages, bookings = await _verify(db, load)
    after = await _healthy_pair(settings)
    assert after.leader == new
    _write_report(
        "switchover",
        {
            "paused_seconds": round(seconds, 2),
            "acknowledged_messages": messages,
            "acknowledged_bookings": bookings,
            "failed_requests": len(failures),
            "old_leader": old,
            "new_leader": new,
        },
    )


async def test_standby_crash_under_write_load_stalls_writes_only_briefly(
    settings: Settings, layout: Layout, db: Database, client: httpx.AsyncClient, stack_url: str
) -> None:
    """Commits that wait for the synchronous standby must not wait for a dead one: Patroni
    (non-strict) drops it from synchronous_standby_names within a loop or two."""
    before = await _healthy_pair(settings)
    standby = before.sync_standby
    assert standby is not None
    scene = await write_load.build_scene(client, db, settings, slots=40, conversations=6)
    load = write_load.Load()
    writers = asyncio.create_task(write_load.run(stack_url, scene, load))
    try:
        await asyncio.sleep(3)
        crashed_at = time.monotonic()
        await asyncio.to_thread(patroni.crash, settings, layout, standby)
        await asyncio.sleep(8)
    finally:
        load.stop.set()
        await asyncio.wait_for(writers, timeout=120)
        ctl(layout, "start", patroni_program(node_index(standby)))
    stall = load.longest_gap(after=crashed_at)
    assert stall <= 5, f"writes stalled {stall:.1f}s with the standby gone"
    failures = load.failures()
    assert not failures, [(f.kind, f.status) for f in failures[:10]]
    messages, bookings = await _verify(db, load)
    after = await _healthy_pair(settings)
    assert (after.leader, after.sync_standby) == (before.leader, standby)
    _write_report(
        "standby_crash",
        {
            "writes_stalled_seconds": round(stall, 2),
            "acknowledged_messages": messages,
            "acknowledged_bookings": bookings,
            "failed_requests": len(failures),
        },
    )
