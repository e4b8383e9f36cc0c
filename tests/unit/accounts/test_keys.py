"""The production secrets guard for the JWT signing keys (rotation through running app
instances: tests/accounts/test_keys.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import SecretStr

from sichrplace.accounts.security import DEV_JWT_KEYS, load_jwt_keys
from sichrplace.app import create_app
from sichrplace.config import Settings
from sichrplace.platform.secrets import InsecureSecretError

OLD = ("2026-01", "old-signing-key-" + "a" * 32)
NEW = ("2026-07", "new-signing-key-" + "b" * 32)


def production(**auth: object) -> Settings:
    s = Settings()
    s.app.environment = "production"
    s.db.password = SecretStr("a-real-database-password")
    s.log.user_hash_key = SecretStr("a-real-log-hash-key-of-32-characters")
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
