"""Accounts request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StrictBool, StringConstraints

from sichrplace.accounts.models import Role
from sichrplace.accounts.records import UserRow

if TYPE_CHECKING:
    from sichrplace.accounts.service import Profile

# minLength is checked by the password rules (their own message), stated here for clients.
Password = Annotated[
    str,
    Field(
        max_length=1024,
        description="At least 10 characters, not a common password",
        json_schema_extra={"minLength": 10},
    ),
]
OpaqueToken = Annotated[str, Field(min_length=1, max_length=512)]
FullName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class RegisterIn(BaseModel):
    email: EmailStr
    password: Password
    full_name: FullName
    # Admins are never self-registered: only these two roles pass validation.
    role: Literal["tenant", "landlord"]


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    full_name: str
    role: Role
    email_verified: bool
    suspended: bool = False
    created_at: datetime

    @classmethod
    def of(cls, user: UserRow) -> UserOut:
        return cls(
            id=user.id,
            email=user.email,
            full_name=user.full_name,
            role=user.role,
            email_verified=user.email_verified_at is not None,
            suspended=user.suspended_at is not None,
            created_at=user.created_at,
        )


class LoginIn(BaseModel):
    # Not EmailStr: a malformed address gets the same 401 as any unknown one.
    email: Annotated[str, Field(min_length=1, max_length=320)]
    password: Annotated[str, Field(max_length=1024)]


class TokenPairOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int = Field(description="Access token lifetime in seconds")
    refresh_expires_in: int = Field(description="Refresh token lifetime in seconds")
    device_token: str | None = Field(
        default=None,
        description=(
            "Login only: this device's token (also set as the httpOnly cookie sp_device). "
            "Send it back with later logins of this account (header X-Device-Token, or the "
            "cookie): a known device is not locked out by other people's failed attempts."
        ),
    )


class RefreshIn(BaseModel):
    refresh_token: OpaqueToken


class VerifyEmailIn(BaseModel):
    token: OpaqueToken


class PasswordResetRequestIn(BaseModel):
    email: EmailStr


class PasswordResetConfirmIn(BaseModel):
    token: OpaqueToken
    password: Password


class AcceptedOut(BaseModel):
    status: Literal["accepted"] = "accepted"
    detail: str


class PasswordChangeIn(BaseModel):
    current_password: Annotated[str, Field(max_length=1024)]
    new_password: Password


# --- the profile (GET/PATCH /me) --------------------------------------------------------------

Language = Literal["de", "en"]


class ChannelsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: StrictBool = Field(description="Also send an email (besides the in-app notification)")


class NotificationPreferencesIn(BaseModel):
    """Only the kinds and channels to change; the others keep their values."""

    model_config = ConfigDict(extra="forbid")

    message: ChannelsIn | None = Field(
        default=None, description="New messages (the unread-message email; default on)"
    )


class ProfilePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    full_name: FullName | None = None
    language: Language | None = Field(
        default=None, description="The language of emails to the user (German by default)"
    )
    notification_preferences: NotificationPreferencesIn | None = None

    def preference_changes(self) -> dict[str, dict[str, bool]] | None:
        if self.notification_preferences is None:
            return None
        return self.notification_preferences.model_dump(exclude_none=True)


class ProfileOut(UserOut):
    language: Language
    notification_preferences: dict[str, dict[str, bool]] = Field(
        description='Per kind, per channel: e.g. {"message": {"email": true}}'
    )

    @classmethod
    def of_profile(cls, profile: Profile) -> ProfileOut:
        return cls(
            **UserOut.of(profile.user).model_dump(),
            language=profile.language,
            notification_preferences=profile.notification_preferences,
        )
