"""Accounts rules without a database: passwords, refresh-token verdicts, emailed tokens,
login throttling."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from sichrplace.accounts import rules
from sichrplace.accounts.models import TokenPurpose
from sichrplace.accounts.records import AccountTokenRow, RefreshTokenRow
from sichrplace.accounts.rules import RefreshVerdict
from sichrplace.accounts.security import common_passwords
from sichrplace.kit.errors import Unprocessable
from sichrplace.platform.ratelimit import Decision

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
MAX_AGE = timedelta(days=30)
COMMON = frozenset({"qwertyuiop", "password123"})


# --- passwords --------------------------------------------------------------------------------


def test_a_password_needs_ten_characters() -> None:
    assert str(rules.password_problem("x" * 9, COMMON)) == "must be at least 10 characters long"
    assert rules.password_problem("Kx7-vier-Hunde", COMMON) is None
    assert rules.password_problem("x" * 10, COMMON) is None


def test_a_common_password_is_refused_in_any_case() -> None:
    assert str(rules.password_problem("QwertyUIOP", COMMON)) == (
        "is too common; choose a less guessable password"
    )


def test_the_shipped_list_knows_the_usual_suspects() -> None:
    assert rules.password_problem("qwertyuiop", common_passwords()) is not None


def test_check_password_is_a_422_naming_the_field() -> None:
    with pytest.raises(Unprocessable) as raised:
        rules.check_password("kurz", COMMON)
    assert raised.value.slug == "weak-password"
    assert [e["field"] for e in raised.value.errors] == ["password"]
    rules.check_password("ein-langes-Passwort", COMMON)  # no exception


# --- refresh tokens ---------------------------------------------------------------------------

TOKEN = RefreshTokenRow(
    token_id=uuid.uuid4(),
    family_id=uuid.uuid4(),
    user_id=uuid.uuid4(),
    expires_at=NOW + timedelta(days=1),
    used_at=None,
    family_created_at=NOW - timedelta(days=1),
    family_revoked_at=None,
)


def verdict(token: RefreshTokenRow | None) -> RefreshVerdict:
    return rules.refresh_verdict(token, now=NOW, session_max_age=MAX_AGE)


def test_a_fresh_unused_token_rotates() -> None:
    assert verdict(TOKEN) is RefreshVerdict.ROTATE


def test_unknown_and_revoked_tokens_are_invalid() -> None:
    assert verdict(None) is RefreshVerdict.INVALID
    revoked = replace(TOKEN, family_revoked_at=NOW - timedelta(minutes=1))
    assert verdict(revoked) is RefreshVerdict.INVALID
    # A revoked family stays revoked: a replay of one of its tokens changes nothing.
    assert verdict(replace(revoked, used_at=NOW)) is RefreshVerdict.INVALID


def test_a_used_token_is_a_replay_even_after_it_expired() -> None:
    used = replace(TOKEN, used_at=NOW - timedelta(hours=1))
    assert verdict(used) is RefreshVerdict.REPLAYED
    assert verdict(replace(used, expires_at=NOW - timedelta(days=1))) is RefreshVerdict.REPLAYED


def test_an_expired_token_or_an_old_session_is_invalid() -> None:
    assert verdict(replace(TOKEN, expires_at=NOW)) is RefreshVerdict.INVALID
    assert verdict(replace(TOKEN, expires_at=NOW + timedelta(seconds=1))) is RefreshVerdict.ROTATE
    born = NOW - MAX_AGE
    assert verdict(replace(TOKEN, family_created_at=born)) is RefreshVerdict.INVALID
    young = born + timedelta(seconds=1)
    assert verdict(replace(TOKEN, family_created_at=young)) is RefreshVerdict.ROTATE


# --- emailed tokens ---------------------------------------------------------------------------

EMAILED = AccountTokenRow(
    id=uuid.uuid4(),
    user_id=uuid.uuid4(),
    purpose=TokenPurpose.PASSWORD_RESET,
    expires_at=NOW + timedelta(minutes=30),
    used_at=None,
)


def test_an_emailed_token_works_once_and_before_it_expires() -> None:
    assert rules.email_token_usable(EMAILED, now=NOW)
    assert not rules.email_token_usable(None, now=NOW)
    assert not rules.email_token_usable(replace(EMAILED, used_at=NOW), now=NOW)
    assert not rules.email_token_usable(replace(EMAILED, expires_at=NOW), now=NOW)


# --- login throttling -------------------------------------------------------------------------


def test_the_throttle_key_is_one_per_account_and_holds_no_address() -> None:
    key = rules.throttle_subject(" Erika@Example.com ")
    assert key == rules.throttle_subject("erika@example.com")
    assert key != rules.throttle_subject("erik@example.com")
    assert len(key) == 64
    assert "example" not in key


def test_retry_after_is_the_longest_refusal() -> None:
    allowed = Decision(allowed=True, count=1, limit=5, retry_after=0)
    assert rules.retry_after([allowed, allowed]) is None
    by_account = Decision(allowed=False, count=6, limit=5, retry_after=30)
    by_ip = Decision(allowed=False, count=21, limit=20, retry_after=90)
    assert rules.retry_after([by_account, allowed]) == 30
    assert rules.retry_after([by_account, by_ip]) == 90
