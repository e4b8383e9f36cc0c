"""Unread counts stay exact under interleaved sends and reads from both sides: random
sequences of batches, each batch's operations run at once (each its own transaction, as
concurrent requests would), against the service and Postgres, compared with a model after
every batch.

The model: a participant's unread count is the number of the other's messages with a seq
above their read marker, and the marker is the highest seq they ever read up to. A batch's
reads name messages that existed before it, and its new messages get seqs above all of
those, so the model does not depend on how the batch's operations interleave."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Literal

import httpx
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sichrplace.config import MessagingSettings, Settings
from sichrplace.kit.clock import utcnow
from sichrplace.messaging import service
from sichrplace.messaging.records import ReadMarker
from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database
from tests.helpers.members import create_member
from tests.messaging.conftest import create_listing

Side = Literal["tenant", "landlord"]
SIDES: tuple[Side, Side] = ("tenant", "landlord")
# Far above what the examples send: the rate limit is not under test here.
UNLIMITED = MessagingSettings(send_limit=100_000, send_window_seconds=60)


@dataclass(frozen=True)
class Caller:
    id: uuid.UUID
    role: str


@dataclass
class Model:
    authors: list[Side] = field(default_factory=list)  # by seq - 1
    ids: list[uuid.UUID] = field(default_factory=list)
    marker: dict[Side, int] = field(default_factory=lambda: {"tenant": 0, "landlord": 0})

    def unread(self, side: Side) -> int:
        return sum(
            1
            for seq, author in enumerate(self.authors, 1)
            if author != side and seq > self.marker[side]
        )


Send = tuple[Literal["send"], Side]
Read = tuple[Literal["read"], Side, int]
Operation = Send | Read

operations = st.one_of(
    st.tuples(st.just("send"), st.sampled_from(SIDES)),
    st.tuples(st.just("read"), st.sampled_from(SIDES), st.integers(0, 10_000)),
)
batches = st.lists(st.lists(operations, min_size=1, max_size=4), min_size=1, max_size=8)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=batches)
async def test_unread_counts_match_the_model(
    client: httpx.AsyncClient,
    db: Database,
    redis: aioredis.Redis,
    settings: Settings,
    plan: list[list[Operation]],
) -> None:
    landlord_member = await create_member(db, settings, "landlord", label="prop")
    tenant_member = await create_member(db, settings, "tenant", label="prop")
    listing_id = uuid.UUID(await create_listing(client, landlord_member))
    people: dict[Side, Caller] = {
        "tenant": Caller(tenant_member.id, "tenant"),
        "landlord": Caller(landlord_member.id, "landlord"),
    }
    model = Model()
    async with transaction(db) as session:
        begun = await service.start_conversation(
            session,
            redis,
            people["tenant"],
            listing_id,
            body="Hallo",
            client_message_id="first",
            settings=UNLIMITED,
            now=utcnow(),
        )
    conversation_id = begun.conversation.id
    model.authors.append("tenant")
    model.ids.append(begun.message.id)

    async def run_send(side: Side) -> tuple[Side, int, uuid.UUID]:
        async with transaction(db) as session:
            sent = await service.send(
                session,
                redis,
                people[side],
                conversation_id,
                body=f"von {side}",
                client_message_id=uuid.uuid4().hex,
                settings=UNLIMITED,
                now=utcnow(),
            )
        assert sent.created
        return side, sent.message.seq, sent.message.id

    async def run_read(side: Side, message_id: uuid.UUID) -> ReadMarker:
        async with transaction(db) as session:
            return await service.mark_read(
                session, redis, people[side], conversation_id, up_to_message_id=message_id
            )

    for batch in plan:
        existing = list(model.ids)
        sends = [run_send(op[1]) for op in batch if op[0] == "send"]
        reads = [(op[1], existing[op[2] % len(existing)]) for op in batch if op[0] == "read"]
        sent, markers = await asyncio.gather(
            asyncio.gather(*sends), asyncio.gather(*(run_read(s, m) for s, m in reads))
        )
        new = sorted(sent, key=lambda item: item[1])
        # Gapless, and after every earlier message.
        first = len(model.authors) + 1
        assert [seq for _, seq, _ in new] == list(range(first, first + len(new)))
        for side, _, message_id in new:
            model.authors.append(side)
            model.ids.append(message_id)
        for (side, message_id), marker in zip(reads, markers, strict=True):
            seq = existing.index(message_id) + 1
            model.marker[side] = max(model.marker[side], seq)
            # Each answer shows a marker at least as far as its own read.
            assert marker.read_seq >= seq

        async with transaction(db) as session:
            for side in SIDES:
                view = await service.conversation_for(session, people[side], conversation_id)
                assert view.unread_count == model.unread(side), (side, plan)
                assert view.read_seq == model.marker[side]
                listed, _ = await service.list_conversations(
                    session, people[side], archived=False, cursor=None, limit=5
                )
                assert [c.unread_count for c in listed if c.id == conversation_id] == [
                    model.unread(side)
                ]
