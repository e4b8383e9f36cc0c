"""Accounts request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, EmailStr, Field, StringConstraints

from sichrplace.accounts.models import Role
from sichrplace.accounts.records import UserRow

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
