"""Device tokens (accounts/security.py): bound to one account, signed, never an access token."""

from __future__ import annotations

import uuid
from datetime import timedelta

import jwt

from sichrplace.accounts import mails
from sichrplace.accounts.security import InvalidAccessToken, build_auth_runtime
from sichrplace.config import Settings
from sichrplace.kit.clock import utcnow

auth = build_auth_runtime(Settings())


def test_a_device_token_names_a_device_of_its_own_account_only() -> None:
    owner, other = uuid.uuid4(), uuid.uuid4()
    token = auth.device_tokens.issue(user_id=owner, now=utcnow())
    device = auth.device_tokens.device_id(token, owner)
    assert device is not None
    assert len(device) == 32
    assert auth.device_tokens.device_id(token, other) is None
    # Every login gets a new device id.
    assert (
        auth.device_tokens.device_id(auth.device_tokens.issue(user_id=owner, now=utcnow()), owner)
        != device
    )


def test_expired_forged_or_foreign_tokens_are_not_device_tokens() -> None:
    owner = uuid.uuid4()
    old = utcnow() - auth.device_tokens.ttl - timedelta(seconds=1)
    expired = auth.device_tokens.issue(user_id=owner, now=old)
    claims = jwt.decode(
        auth.device_tokens.issue(user_id=owner, now=utcnow()), options={"verify_signature": False}
    )
    kid = auth.device_tokens.keys.active_kid
    forged = jwt.encode(claims, b"k" * 32, algorithm="HS256", headers={"kid": kid})
    access = auth.access_tokens.issue(
        user_id=owner, email="a@example.com", role="tenant", session_id=uuid.uuid4(), now=utcnow()
    )
    for token in (expired, forged, access, "garbage", ""):
        assert auth.device_tokens.device_id(token, owner) is None


def test_a_device_token_is_not_an_access_token() -> None:
    token = auth.device_tokens.issue(user_id=uuid.uuid4(), now=utcnow())
    try:
        auth.access_tokens.decode(token)
    except InvalidAccessToken:
        return
    raise AssertionError("a device token was accepted as an access token")


def test_the_burst_notice_is_in_one_language_with_the_reset_link() -> None:
    letter = mails.sign_in_burst(
        "de", full_name="Erika", failures=10, window_minutes=60, reset_url="https://x/reset"
    )
    assert letter.body.startswith("Hallo Erika")
    assert "Hello" not in letter.body
    assert letter.body.count("https://x/reset") == 1
    assert letter.subject.startswith("Viele fehlgeschlagene Anmeldeversuche")
