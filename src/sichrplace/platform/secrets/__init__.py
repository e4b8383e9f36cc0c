"""Secrets provider: values from a mounted file or the environment, never defaults in production."""

from sichrplace.platform.secrets.keys import SigningKeySet, load_signing_keys
from sichrplace.platform.secrets.provider import (
    InsecureSecretError,
    Secret,
    SecretsProvider,
    provider_for,
)

__all__ = [
    "InsecureSecretError",
    "Secret",
    "SecretsProvider",
    "SigningKeySet",
    "load_signing_keys",
    "provider_for",
]
