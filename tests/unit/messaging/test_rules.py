"""Messaging rules without the stack: participants, who may start a conversation, the text of
a message, the cursors."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sichrplace.kit.errors import Forbidden, Unprocessable
from sichrplace.messaging import rules
from sichrplace.messaging.errors import ConversationNotFound
from sichrplace.messaging.records import ConversationRow, ListingBrief

NOW = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Caller:
    id: uuid.UUID
    role: str


def conversation() -> ConversationRow:
    return ConversationRow(
        id=uuid.uuid4(),
        listing_id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        landlord_id=uuid.uuid4(),
        last_seq=3,
        created_at=NOW,
        last_message_at=NOW,
    )


def listing(owner_id: uuid.UUID, status: str = "active") -> ListingBrief:
    return ListingBrief(id=uuid.uuid4(), owner_id=owner_id, status=status, title="Wohnung")


def test_each_participant_sees_the_other_and_nobody_else_sees_anything() -> None:
    c = conversation()
    assert rules.check_participant(c.tenant_id, c) == c.landlord_id
    assert rules.check_participant(c.landlord_id, c) == c.tenant_id
    with pytest.raises(ConversationNotFound):
        rules.check_participant(uuid.uuid4(), c)


def test_only_tenants_start_and_never_about_their_own_listing() -> None:
    tenant = Caller(uuid.uuid4(), "tenant")
    rules.check_may_start(tenant, listing(uuid.uuid4()))
    for role in ("landlord", "admin"):
        with pytest.raises(Forbidden):
            rules.check_may_start(Caller(uuid.uuid4(), role), listing(uuid.uuid4()))
    with pytest.raises(Unprocessable) as own:
        rules.check_may_start(tenant, listing(tenant.id))
    assert own.value.errors == [{"field": "listing_id", "message": own.value.errors[0]["message"]}]


def test_an_archived_listing_is_visible_to_its_owner_only() -> None:
    owner, tenant = Caller(uuid.uuid4(), "landlord"), Caller(uuid.uuid4(), "tenant")
    archived = listing(owner.id, "archived")
    assert rules.may_see_listing(tenant, listing(owner.id))
    assert not rules.may_see_listing(tenant, archived)
    assert rules.may_see_listing(owner, archived)
    assert not rules.may_see_listing(tenant, None)


@pytest.mark.parametrize(
    ("raw", "stored"),
    [("  hallo  ", "hallo"), ("\n\tzwei\nZeilen \n", "zwei\nZeilen"), ("x" * 5000, "x" * 5000)],
)
def test_message_text_is_trimmed(raw: str, stored: str) -> None:
    assert rules.check_body(raw) == stored


@pytest.mark.parametrize("raw", ["", "   ", "\n\t \u3000", "x" * 5001, " " + "y" * 5001 + " "])
def test_empty_or_too_long_text_is_refused_naming_body(raw: str) -> None:
    with pytest.raises(Unprocessable) as refused:
        rules.check_body(raw)
    assert [e["field"] for e in refused.value.errors] == ["body"]


def test_a_message_page_goes_on_until_the_first_message() -> None:
    assert rules.next_message_cursor([9, 8, 7], 3) == 7
    assert rules.next_message_cursor([3, 2, 1], 3) is None
    assert rules.next_message_cursor([5, 4], 3) is None
    assert rules.next_message_cursor([], 3) is None


@given(
    moment=st.datetimes(timezones=st.just(UTC)),
    offset_hours=st.integers(-12, 14),
)
def test_list_cursors_round_trip(moment: datetime, offset_hours: int) -> None:
    local = moment.astimezone(timezone(timedelta(hours=offset_hours)))
    ident = uuid.uuid4()
    assert rules.decode_cursor(rules.encode_cursor(local, ident)) == (moment, ident)


@pytest.mark.parametrize(
    "cursor", ["x", "bm90LWEtY3Vyc29y", rules.encode_cursor(NOW, uuid.uuid4())[:-4]]
)
def test_a_foreign_cursor_is_422_naming_cursor(cursor: str) -> None:
    with pytest.raises(Unprocessable) as refused:
        rules.decode_cursor(cursor)
    assert [e["field"] for e in refused.value.errors] == ["cursor"]


def test_times_are_written_in_utc_with_z() -> None:
    berlin = NOW.astimezone(timezone(timedelta(hours=1)))
    assert rules.rfc3339(berlin) == "2027-01-15T12:00:00Z"
