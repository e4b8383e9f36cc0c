"""Accounts rules as pure functions (no I/O): passwords, refresh-token rotation and replay,
single-use emailed tokens, login throttling. The service applies them to what it read."""

from __future__ import annotations

import hashlib
from collections.abc import Container, Iterable, Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from sichrplace.accounts.errors import weak_password
from sichrplace.accounts.records import AccountTokenRow, RefreshTokenRow
from sichrplace.kit.i18n import N_, Msg

MIN_PASSWORD_LENGTH = 10


def password_problem(password: str, common: Container[str]) -> Msg | None:
    """Why `password` is not acceptable, or None; `common` holds lower-cased common passwords."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return N_("must be at least {n} characters long", n=MIN_PASSWORD_LENGTH)
    if password.lower() in common:
        return N_("is too common; choose a less guessable password")
    return None


def check_password(password: str, common: Container[str]) -> None:
    """422 naming `password` unless it is acceptable."""
    reason = password_problem(password, common)
    if reason is not None:
        raise weak_password(reason)


class RefreshVerdict(StrEnum):
    """What a presented refresh token gets."""

    ROTATE = "rotate"  # valid: it dies, a new one joins its family
    INVALID = "invalid"  # unknown, revoked, expired, or its session is too old: 401
    REPLAYED = "replayed"  # already rotated once: the whole family is revoked, then 401


def refresh_verdict(
    token: RefreshTokenRow | None, *, now: datetime, session_max_age: timedelta
) -> RefreshVerdict:
    """A replay counts even after expiry: a stolen token must still kill its family."""
    if token is None or token.family_revoked_at is not None:
        return RefreshVerdict.INVALID
    if token.used_at is not None:
        return RefreshVerdict.REPLAYED
    if token.expires_at <= now or token.family_created_at + session_max_age <= now:
        return RefreshVerdict.INVALID
    return RefreshVerdict.ROTATE


def email_token_usable(token: AccountTokenRow | None, *, now: datetime) -> bool:
    """A single-use emailed token works once, before it expires."""
    return token is not None and token.used_at is None and token.expires_at > now


def throttle_subject(email: str) -> str:
    """The login throttle's key for an email: hashed (Redis holds no addresses), and the same
    for every spelling the login accepts (case, surrounding spaces)."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


class Decision(Protocol):
    """A rate limiter's answer (platform.ratelimit's Decision satisfies this)."""

    @property
    def allowed(self) -> bool: ...

    @property
    def retry_after(self) -> int: ...


def retry_after(decisions: Iterable[Decision]) -> int | None:
    """Seconds until a throttled login may be tried again (the longest refusal), or None when
    every limiter allows it."""
    refused = [d.retry_after for d in decisions if not d.allowed]
    return max(refused) if refused else None


# --- profile settings -------------------------------------------------------------------------

LANGUAGES = ("de", "en")
# Per kind of notification, what the user gets besides the in-app notification. Stored is only
# what the user changed: a default changed here applies to everyone who kept it.
NOTIFICATION_DEFAULTS: dict[str, dict[str, bool]] = {"message": {"email": True}}


def effective_preferences(stored: Mapping[str, Any]) -> dict[str, dict[str, bool]]:
    """The defaults with the user's stored choices over them (unknown kinds ignored)."""
    result = {kind: dict(channels) for kind, channels in NOTIFICATION_DEFAULTS.items()}
    for kind, channels in stored.items():
        if kind in result and isinstance(channels, Mapping):
            for channel, wanted in channels.items():
                if channel in result[kind] and isinstance(wanted, bool):
                    result[kind][channel] = wanted
    return result


def merged_preferences(
    stored: Mapping[str, Any], changes: Mapping[str, Mapping[str, bool]]
) -> dict[str, dict[str, bool]]:
    """What to store after a PATCH: the stored choices with the changed ones over them."""
    result = {kind: dict(channels) for kind, channels in effective_preferences(stored).items()}
    for kind, channels in changes.items():
        result.setdefault(kind, {}).update(channels)
    return result


def wants_email(stored: Mapping[str, Any], kind: str) -> bool:
    return effective_preferences(stored).get(kind, {}).get("email", False)
