"""Signing-key rotation through separate app instances, and the production secrets guard."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import jwt
import pytest
from pydantic import SecretStr

from sichrplace.accounts.security import DEV_JWT_KEYS, load_jwt_keys
from sichrplace.app import create_app
from sichrplace.config import Settings
from sichrplace.platform.secrets import InsecureSecretError
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


def production(**auth: object) -> Settings:
    s = Settings()
    s.app.environment = "production"
    s.db.password = SecretStr("a-real-database-password")
    s.auth.jwt_keys, s.auth.jwt_keys_file, s.auth.jwt_active_kid = None, None, None
    for name, value in auth.items():
        setattr(s.auth, name, value)
    return s


def test_production_refuses_missing_default_or_weak_jwt_keys(tmp_path: Path) -> None:
    with pytest.raises(InsecureSecretError, match="SICHRPLACE_AUTH_JWT_KEYS is not set"):
        load_jwt_keys(production())
    with pytest.raises(InsecureSecretError, match="development default"):
        load_jwt_keys(production(jwt_keys=SecretStr(DEV_JWT_KEYS)))
    dev_key = next(iter(json.loads(DEV_JWT_KEYS).values()))
    with pytest.raises(InsecureSecretError, match="development default"):
        load_jwt_keys(production(jwt_keys=SecretStr(json.dumps({"k": dev_key}))))
    with pytest.raises(InsecureSecretError, match="shorter than 32"):
        load_jwt_keys(production(jwt_keys=SecretStr('{"k1": "short"}')))
    with pytest.raises(InsecureSecretError, match="active key id"):
        load_jwt_keys(production(jwt_keys=SecretStr(json.dumps(dict([OLD, NEW])))))
    with pytest.raises(InsecureSecretError, match="not in the key set"):
        load_jwt_keys(production(jwt_keys=SecretStr(json.dumps(dict([OLD]))), jwt_active_kid="x"))
    with pytest.raises(InsecureSecretError, match="cannot read secret file"):
        load_jwt_keys(production(jwt_keys_file=tmp_path / "missing.json"))
    with pytest.raises(InsecureSecretError, match="JSON object"):
        load_jwt_keys(production(jwt_keys=SecretStr("not json")))


def test_production_accepts_strong_keys_and_a_secret_file_wins(tmp_path: Path) -> None:
    keys = load_jwt_keys(production(jwt_keys=SecretStr(json.dumps(dict([OLD])))))
    assert keys.active_kid == OLD[0]
    mounted = tmp_path / "jwt-keys.json"
    mounted.write_text(json.dumps(dict([OLD, NEW])))
    from_file = load_jwt_keys(
        production(
            jwt_keys=SecretStr(json.dumps(dict([OLD]))),
            jwt_keys_file=mounted,
            jwt_active_kid=NEW[0],
        )
    )
    assert set(from_file.keys) == {OLD[0], NEW[0]}
    assert from_file.signing_key == NEW[1].encode()


def test_development_falls_back_to_the_default_key() -> None:
    s = Settings()
    s.app.environment = "development"
    s.auth.jwt_keys = None
    s.auth.jwt_keys_file = None
    assert load_jwt_keys(s).active_kid in json.loads(DEV_JWT_KEYS)


async def test_app_refuses_to_start_in_production_with_default_jwt_key() -> None:
    application = create_app(production())
    with pytest.raises(InsecureSecretError, match="SICHRPLACE_AUTH_JWT_KEYS"):
        async with application.router.lifespan_context(application):
            pass  # pragma: no cover - start-up must fail
