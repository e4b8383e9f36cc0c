"""Access tokens (accounts/security.py): a verified token is remembered until it expires."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import jwt
import pytest

from sichrplace.accounts import security
from sichrplace.accounts.security import AccessTokens, InvalidAccessToken, build_auth_runtime
from sichrplace.config import Settings
from sichrplace.kit.clock import utcnow


def tokens() -> AccessTokens:
    return build_auth_runtime(Settings()).access_tokens


def issue(access: AccessTokens, **shift: float) -> str:
    return access.issue(
        user_id=uuid.uuid4(),
        email="a@example.com",
        role="tenant",
        session_id=uuid.uuid4(),
        now=utcnow() + timedelta(**shift),
    )


def test_a_remembered_token_still_expires() -> None:
    access = tokens()
    # Issued so that about 1 s of its life is left (exp counts whole seconds).
    token = issue(access, seconds=1 - access.ttl.total_seconds())
    first = access.decode(token)
    assert access.decode(token) is first  # remembered, not verified again
    time.sleep(2.1)
    with pytest.raises(InvalidAccessToken, match="token expired"):
        access.decode(token)
    assert token not in access._verified


def test_only_verified_tokens_are_remembered_and_their_number_is_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    access = tokens()
    claims = jwt.decode(issue(access), options={"verify_signature": False})
    forged = jwt.encode(
        claims, b"k" * 32, algorithm="HS256", headers={"kid": access.keys.active_kid}
    )
    for _ in range(2):
        with pytest.raises(InvalidAccessToken, match="invalid token"):
            access.decode(forged)
    assert forged not in access._verified
    monkeypatch.setattr(security, "VERIFIED_TOKENS_KEPT", 3)
    issued = [issue(access) for _ in range(5)]
    for token in issued:
        access.decode(token)
    assert list(access._verified) == issued[2:]  # the oldest went first
