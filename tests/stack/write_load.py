"""Write load through nginx for the failover and switchover tests: bookings (each a free slot,
with an Idempotency-Key) and messages (each with a client_message_id), every attempt recorded.

A failed attempt is retried with the same key until it is answered 2xx or the load stops, as
a client would: what was committed but not acknowledged must then come back as the same
booking or message, never a second one.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from sichrplace.config import Settings
from sichrplace.platform.db.engines import Database
from tests.helpers.members import Member, create_member
from tests.listings.conftest import listing_body

API = "/api/v1"


@dataclass
class Attempt:
    kind: str  # booking | message
    key: str
    started: float
    finished: float
    status: int  # 0: no answer (connection refused, reset, timed out)
    resource_id: str | None = None


@dataclass
class Load:
    attempts: list[Attempt] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def acknowledged(self, kind: str) -> dict[str, str]:
        """key -> id of every write answered 2xx."""
        return {
            a.key: a.resource_id
            for a in self.attempts
            if a.kind == kind and 200 <= a.status < 300 and a.resource_id
        }

    def failures(self) -> list[Attempt]:
        return [a for a in self.attempts if not 200 <= a.status < 300]

    def keys(self, kind: str) -> set[str]:
        return {a.key for a in self.attempts if a.kind == kind}

    def longest_gap(self, after: float) -> float:
        """The longest time without a successful write completing, from `after` on (how long
        writes were unavailable)."""
        done = sorted(a.finished for a in self.attempts if 200 <= a.status < 300)
        done = [t for t in done if t >= after]
        if not done:
            return float("inf")
        gaps = [done[0] - after] + [b - a for a, b in itertools.pairwise(done)]
        return max(gaps)


@dataclass(frozen=True)
class Scene:
    landlord: Member
    listing_id: str
    slots: list[str]
    bookers: list[Member]
    conversations: list[tuple[str, Member, Member]]  # (id, tenant, landlord)


async def build_scene(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    *,
    slots: int,
    conversations: int,
) -> Scene:
    landlord = await create_member(db, settings, "landlord", label="ha")
    r = await client.post(f"{API}/listings", json=listing_body(), headers=landlord.headers)
    assert r.status_code == 201, r.text
    listing_id = str(r.json()["id"])
    slot_ids = []
    base = time.time() + 86_400 * 3
    for i in range(slots):
        start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(base + i * 3600))
        end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(base + i * 3600 + 1800))
        r = await client.post(
            f"{API}/listings/{listing_id}/slots",
            json={"starts_at": start, "ends_at": end},
            headers=landlord.headers,
        )
        assert r.status_code == 201, r.text
        slot_ids.append(str(r.json()["id"]))
    bookers = [await create_member(db, settings, "tenant", label="ha") for _ in range(slots)]
    convs = []
    for _ in range(conversations):
        tenant = await create_member(db, settings, "tenant", label="ha")
        other = await create_member(db, settings, "landlord", label="ha")
        r = await client.post(f"{API}/listings", json=listing_body(), headers=other.headers)
        assert r.status_code == 201, r.text
        r = await client.post(
            f"{API}/conversations",
            json={"listing_id": r.json()["id"], "body": "Guten Tag!"},
            headers=tenant.headers,
        )
        assert r.status_code == 201, r.text
        convs.append((str(r.json()["id"]), tenant, other))
    return Scene(landlord, listing_id, slot_ids, bookers, convs)


async def _attempt(
    http: httpx.AsyncClient, load: Load, kind: str, key: str, request: dict[str, Any]
) -> bool:
    started = time.monotonic()
    status, resource = 0, None
    try:
        resp = await http.post(**request)
        status = resp.status_code
        if 200 <= status < 300:
            resource = str(resp.json()["id"])
    except httpx.HTTPError:
        pass
    load.attempts.append(Attempt(kind, key, started, time.monotonic(), status, resource))
    return 200 <= status < 300


async def _until_done(
    http: httpx.AsyncClient, load: Load, kind: str, key: str, request: dict[str, Any]
) -> None:
    while not await _attempt(http, load, kind, key, request):
        if load.stop.is_set():
            return
        await asyncio.sleep(0.3)


async def _booker(http: httpx.AsyncClient, load: Load, scene: Scene, lane: int, lanes: int) -> None:
    for index in range(lane, len(scene.slots), lanes):
        if load.stop.is_set():
            return
        key = f"ha-{uuid.uuid4()}"
        tenant = scene.bookers[index]
        request = {
            "url": f"{API}/viewings",
            "json": {"slot_id": scene.slots[index]},
            "headers": {**tenant.headers, "Idempotency-Key": key},
        }
        await _until_done(http, load, "booking", key, request)
        await asyncio.sleep(0.4)


async def _messenger(http: httpx.AsyncClient, load: Load, conv: tuple[str, Member, Member]) -> None:
    conversation_id, tenant, landlord = conv
    turn = 0
    while not load.stop.is_set():
        key = uuid.uuid4().hex
        author = (tenant, landlord)[turn % 2]
        turn += 1
        request = {
            "url": f"{API}/conversations/{conversation_id}/messages",
            "json": {"body": f"Nachricht {turn}", "client_message_id": key},
            "headers": author.headers,
        }
        await _until_done(http, load, "message", key, request)
        # Each member sends one message every 2.4 s: inside the send limit (30 a minute).
        await asyncio.sleep(1.2)


async def run(stack_url: str, scene: Scene, load: Load, *, booking_lanes: int = 2) -> None:
    """Write until `load.stop` is set (the callers set it)."""
    async with httpx.AsyncClient(base_url=stack_url, timeout=30) as http:
        tasks = [_booker(http, load, scene, lane, booking_lanes) for lane in range(booking_lanes)]
        tasks += [_messenger(http, load, conv) for conv in scene.conversations]
        await asyncio.gather(*tasks)
