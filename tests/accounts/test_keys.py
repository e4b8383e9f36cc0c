"""Signing-key rotation through separate app instances (the production secrets guard:
tests/unit/accounts/test_keys.py)."""

from __future__ import annotations

import json

import httpx
import jwt
from pydantic import SecretStr

from sichrplace.config import Settings
from tests.accounts.conftest import API, bearer, register, running_app

OLD = ("2026-01", "old-signing-key-" + "a" * 32)
NEW = ("2026-07", "new-signing-key-" + "b" * 32)


def settings_with(keys: dict[str, str], active: str | None = None) -> Settings:
    s = Settings()
    s.auth.jwt_keys = SecretStr(json.dumps(keys))
    s.auth.jwt_active_kid = active
    return s


async def me(client: httpx.AsyncClient, token: str) -> int:
    return (await client.get(f"{API}/me", headers=bearer(token))).status_code


async def login_token(client: httpx.AsyncClient, email: str, password: str) -> str:
    r = await client.post(f"{API}/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    token: str = r.json()["access_token"]
    return token


async def test_key_rotation_old_tokens_verify_while_listed(ip_client: httpx.AsyncClient) -> None:
    account = await register(ip_client)
    before = settings_with(dict([OLD]))
    during = settings_with(dict([OLD, NEW]), active=NEW[0])
    after = settings_with(dict([NEW]))

    async with running_app(before) as c:
        old_token = await login_token(c, account.email, account.password)
    assert jwt.get_unverified_header(old_token)["kid"] == OLD[0]

    async with running_app(during) as c:
        assert await me(c, old_token) == 200  # signed by the previous key, still listed
        new_token = await login_token(c, account.email, account.password)
        assert jwt.get_unverified_header(new_token)["kid"] == NEW[0]
        assert await me(c, new_token) == 200

    async with running_app(after) as c:
        assert await me(c, old_token) == 401  # its key left the set
        assert await me(c, new_token) == 200

    # The main app (development key set) knows neither kid.
    assert await me(ip_client, new_token) == 401
