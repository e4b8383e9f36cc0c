"""What the accounts repository returns: typed, immutable rows (never ORM entities)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sichrplace.accounts.models import Role, TokenPurpose


@dataclass(frozen=True, slots=True)
class UserRow:
    id: uuid.UUID
    email: str
    password_hash: str
    full_name: str
    role: Role
    email_verified_at: datetime | None
    password_changed_at: datetime
    suspended_at: datetime | None
    created_at: datetime
    updated_at: datetime
    language: str  # 'de' | 'en': the user's emails and problems


@dataclass(frozen=True, slots=True)
class RefreshTokenRow:
    """A refresh token with its family (login session), as locked for a refresh."""

    token_id: uuid.UUID
    family_id: uuid.UUID
    user_id: uuid.UUID
    expires_at: datetime
    used_at: datetime | None
    family_created_at: datetime
    family_revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class AccountTokenRow:
    """A single-use emailed token (verify email, reset password)."""

    id: uuid.UUID
    user_id: uuid.UUID
    purpose: TokenPurpose
    expires_at: datetime
    used_at: datetime | None


@dataclass(frozen=True, slots=True)
class SessionStateRow:
    """What the database says about an access token's session and user (None: no such user)."""

    session_live: bool  # the session (refresh family) exists, is the user's and is not revoked
    suspended: bool
    language: str


@dataclass(frozen=True, slots=True)
class ProfileSettingsRow:
    """A user's language and stored notification choices (only what they changed)."""

    language: str
    notification_preferences: dict[str, Any]
