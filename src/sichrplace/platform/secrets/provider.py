"""Where secrets come from, and the production guard.

Precedence per secret: a file path (a mounted Kubernetes/Docker secret) wins over a value from
the environment; a built-in development default is used only outside production. In the
"production" environment a missing secret, a secret equal to its development default, or one
shorter than its minimum length raises `InsecureSecretError`, so the process refuses to start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import structlog
from pydantic import SecretStr

if TYPE_CHECKING:
    from sichrplace.config import Settings

log = structlog.get_logger(__name__)

Source = Literal["file", "env", "default"]


class InsecureSecretError(RuntimeError):
    """A secret is missing, unreadable, a development default, or too weak for production."""


@dataclass(frozen=True)
class Secret:
    """A resolved secret; its value never appears in repr or logs."""

    name: str
    source: Source
    _value: str = field(repr=False)

    def reveal(self) -> str:
        return self._value

    @property
    def is_default(self) -> bool:
        return self.source == "default"


class SecretsProvider:
    """Resolves named secrets for one environment."""

    def __init__(self, environment: str) -> None:
        self.environment = environment

    @property
    def strict(self) -> bool:
        return self.environment == "production"

    def get(
        self,
        name: str,
        *,
        value: SecretStr | None = None,
        file: Path | None = None,
        default: str | None = None,
        min_length: int = 1,
    ) -> Secret:
        """Resolve secret `name` (its env variable name, for messages): file, env, default."""
        secret = self._resolve(name, value=value, file=file, default=default)
        if self.strict:
            if secret.is_default or (default is not None and secret.reveal() == default):
                raise InsecureSecretError(f"{name} uses the development default in production")
            if len(secret.reveal()) < min_length:
                raise InsecureSecretError(f"{name} is shorter than {min_length} characters")
        elif secret.is_default:
            log.warning("secret_default_in_use", secret=name, environment=self.environment)
        return secret

    def _resolve(
        self, name: str, *, value: SecretStr | None, file: Path | None, default: str | None
    ) -> Secret:
        if file is not None:
            try:
                text = file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                # A configured but unreadable file is a deployment error in every environment.
                raise InsecureSecretError(f"{name}: cannot read secret file {file}: {exc}") from exc
            if text:
                return Secret(name, "file", text)
            raise InsecureSecretError(f"{name}: secret file {file} is empty")
        if value is not None and value.get_secret_value():
            return Secret(name, "env", value.get_secret_value())
        if default is not None and not self.strict:
            return Secret(name, "default", default)
        raise InsecureSecretError(f"{name} is not set")


def provider_for(settings: Settings) -> SecretsProvider:
    return SecretsProvider(settings.app.environment)
