"""Rotatable signing keys: a set of verification keys by key id and one active signing key.

The secret holds a JSON object `{"<kid>": "<key>", ...}`. Rotation: add the new key, switch
the active kid to it, and remove the old key once every token it signed has expired.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from sichrplace.platform.secrets.provider import InsecureSecretError, SecretsProvider


@dataclass(frozen=True)
class SigningKeySet:
    """Verification keys by kid; `active_kid` signs."""

    active_kid: str
    keys: Mapping[str, bytes] = field(repr=False)

    def __post_init__(self) -> None:
        if self.active_kid not in self.keys:
            raise InsecureSecretError(f"active key id {self.active_kid!r} is not in the key set")

    @property
    def signing_key(self) -> bytes:
        return self.keys[self.active_kid]

    def verification_key(self, kid: object) -> bytes | None:
        return self.keys.get(kid) if isinstance(kid, str) else None


def parse_key_json(name: str, raw: str) -> dict[str, str]:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise InsecureSecretError(f"{name} is not a JSON object of key id to key") from exc
    if not isinstance(data, dict) or not data:
        raise InsecureSecretError(f"{name} must be a non-empty JSON object of key id to key")
    for kid, key in data.items():
        if not kid or not isinstance(key, str) or not key:
            raise InsecureSecretError(f"{name}: key {kid!r} must be a non-empty string")
    return data


def load_signing_keys(
    provider: SecretsProvider,
    name: str,
    *,
    value: SecretStr | None,
    file: Path | None,
    active_kid: str | None,
    default: str,
    min_key_length: int = 32,
) -> SigningKeySet:
    """Resolve the key set secret `name`; in production refuse defaults and short keys."""
    secret = provider.get(name, value=value, file=file, default=default)
    keys = parse_key_json(name, secret.reveal())
    if provider.strict:
        default_values = set(parse_key_json(name, default).values())
        for kid, key in keys.items():
            if key in default_values:
                raise InsecureSecretError(f"{name}: key {kid!r} is a development default")
            if len(key) < min_key_length:
                raise InsecureSecretError(
                    f"{name}: key {kid!r} is shorter than {min_key_length} characters"
                )
    if active_kid is None:
        if len(keys) != 1:
            raise InsecureSecretError(f"{name} holds several keys: set the active key id")
        active_kid = next(iter(keys))
    return SigningKeySet(active_kid, {k: v.encode() for k, v in keys.items()})
