"""Credentials: argon2id passwords, opaque refresh/email tokens, kid-keyed JWT access tokens."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from importlib import resources

import jwt
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from sichrplace.accounts.models import Role
from sichrplace.config import AuthSettings, Settings
from sichrplace.platform.parts import Key
from sichrplace.platform.secrets import SigningKeySet, load_signing_keys, provider_for

JWT_ALGORITHM = "HS256"
JWT_KEYS_SECRET = "SICHRPLACE_AUTH_JWT_KEYS"  # noqa: S105 - the variable name
# Development only: the secrets provider refuses it (and any key equal to it) in production.
DEV_JWT_KEYS = '{"dev-1": "sichrplace-development-only-jwt-signing-key"}'
REQUIRED_CLAIMS = ["exp", "iat", "sub", "jti", "iss", "aud"]
# Verified access tokens an API process remembers (about 0.5 KiB each), the oldest going first.
VERIFIED_TOKENS_KEPT = 4096


# --- passwords --------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lower-cased (for `rules.password_problem`)."""
    text = resources.files("sichrplace.accounts").joinpath("common_passwords.txt").read_text()
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and line[0] != "#"
    )


class Passwords:
    """argon2id hashing; the CPU-heavy work runs in a thread so the event loop stays free."""

    def __init__(self, settings: AuthSettings) -> None:
        self.hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            type=Type.ID,
        )
        self._dummy_hash: str | None = None

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self.hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        try:
            return await asyncio.to_thread(self.hasher.verify, password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def verify_dummy(self, password: str) -> None:
        """Spend the same time as a real check, so an unknown email is not faster to refuse."""
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash(secrets.token_urlsafe(16))
        await self.verify(self._dummy_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self.hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True


# --- opaque tokens (refresh, email verification, password reset) -----------------------------


def new_opaque_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> bytes:
    """What is stored: the tokens carry 256 random bits, so a fast hash is enough."""
    return hashlib.sha256(token.encode()).digest()


# --- access tokens ----------------------------------------------------------------------------


def _sign(keys: SigningKeySet, claims: dict[str, object]) -> str:
    """A JWT signed with the active key, its id in the header (rotation: keys.py)."""
    return jwt.encode(
        claims, keys.signing_key, algorithm=JWT_ALGORITHM, headers={"kid": keys.active_kid}
    )


class InvalidAccessToken(Exception):
    """The bearer token cannot be trusted; the message says why (for the 401 detail)."""


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    email: str
    role: Role
    session_id: uuid.UUID
    jti: str


class AccessTokens:
    """Signs with the active key (its kid in the header); verifies with any listed key."""

    def __init__(self, keys: SigningKeySet, settings: AuthSettings) -> None:
        self.keys = keys
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        self.ttl = timedelta(seconds=settings.access_token_ttl_seconds)
        # Verified tokens and their expiry: a client sends its token with every request for
        # its whole life, and checking the signature again cost more CPU than the rest of an
        # authenticated read. Only what verified is kept, and only until it expires.
        self._verified: dict[str, tuple[AccessClaims, float]] = {}

    def issue(
        self, *, user_id: uuid.UUID, email: str, role: str, session_id: uuid.UUID, now: datetime
    ) -> str:
        claims = {
            "sub": str(user_id),
            "email": email,
            "role": role,
            "sid": str(session_id),
            "jti": uuid.uuid4().hex,
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "exp": now + self.ttl,
        }
        return _sign(self.keys, claims)

    def decode(self, token: str) -> AccessClaims:
        known = self._verified.get(token)
        if known is not None:
            if time.time() < known[1]:
                return known[0]
            del self._verified[token]
        claims = self._verify(token)
        if len(self._verified) >= VERIFIED_TOKENS_KEPT:
            del self._verified[next(iter(self._verified))]  # the oldest
        self._verified[token] = claims
        return claims[0]

    def _verify(self, token: str) -> tuple[AccessClaims, float]:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.InvalidTokenError as exc:
            raise InvalidAccessToken("malformed token") from exc
        key = self.keys.verification_key(kid)
        if key is None:
            raise InvalidAccessToken("unknown signing key")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[JWT_ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidAccessToken("token expired") from exc
        except jwt.InvalidTokenError as exc:
            raise InvalidAccessToken("invalid token") from exc
        try:
            verified = AccessClaims(
                user_id=uuid.UUID(claims["sub"]),
                email=str(claims["email"]),
                role=Role(claims["role"]),
                session_id=uuid.UUID(claims["sid"]),
                jti=str(claims["jti"]),
            )
            return verified, float(claims["exp"])
        except (KeyError, ValueError, TypeError) as exc:
            raise InvalidAccessToken("invalid token claims") from exc


# --- device tokens (OWASP "Slow Down Online Guessing Attacks with Device Cookies") ----------


class DeviceTokens:
    """A signed token a device gets on a successful login, bound to that account.

    Presented with a later login of the same account it makes the device "known": it is then
    throttled on its own and not by the account-wide lockout strangers can cause. Signed with
    the JWT keys but with its own audience, so it is never accepted as an access token.
    """

    def __init__(self, keys: SigningKeySet, settings: AuthSettings) -> None:
        self.keys = keys
        self.issuer = settings.jwt_issuer
        self.audience = f"{settings.jwt_audience}/device"
        self.ttl = timedelta(seconds=settings.device_token_ttl_seconds)

    def issue(self, *, user_id: uuid.UUID, now: datetime) -> str:
        claims = {
            "sub": str(user_id),
            "did": uuid.uuid4().hex,
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "exp": now + self.ttl,
        }
        return _sign(self.keys, claims)

    def device_id(self, token: str, user_id: uuid.UUID) -> str | None:
        """The device's id if `token` is a valid device token of `user_id`, else None."""
        try:
            key = self.keys.verification_key(jwt.get_unverified_header(token).get("kid"))
            if key is None:
                return None
            claims = jwt.decode(
                token,
                key,
                algorithms=[JWT_ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "did", "iss", "aud"]},
            )
        except jwt.InvalidTokenError:
            return None
        if claims.get("sub") != str(user_id):
            return None
        did = claims.get("did")
        return did if isinstance(did, str) and did else None


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    id: uuid.UUID
    email: str
    role: Role
    session_id: uuid.UUID


# --- wiring -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthRuntime:
    """Everything accounts needs that is built once per app from settings and secrets."""

    settings: AuthSettings
    passwords: Passwords
    access_tokens: AccessTokens
    device_tokens: DeviceTokens
    public_base_url: str


AUTH = Key[AuthRuntime]("accounts.auth")


def load_jwt_keys(settings: Settings) -> SigningKeySet:
    """The JWT key set from the secrets provider; raises InsecureSecretError in production."""
    auth = settings.auth
    return load_signing_keys(
        provider_for(settings),
        JWT_KEYS_SECRET,
        value=auth.jwt_keys,
        file=auth.jwt_keys_file,
        active_kid=auth.jwt_active_kid,
        default=DEV_JWT_KEYS,
    )


def build_auth_runtime(settings: Settings) -> AuthRuntime:
    keys = load_jwt_keys(settings)
    return AuthRuntime(
        settings=settings.auth,
        passwords=Passwords(settings.auth),
        access_tokens=AccessTokens(keys, settings.auth),
        device_tokens=DeviceTokens(keys, settings.auth),
        public_base_url=settings.app.public_base_url.rstrip("/"),
    )
