"""Accounts problems, each with a stable problem `type` slug."""

from __future__ import annotations

from sichrplace.kit.errors import Conflict, Forbidden, Unauthorized, Unprocessable


class EmailTaken(Conflict):
    slug = "email-taken"

    def __init__(self) -> None:
        super().__init__("An account with this email address already exists.")


class InvalidCredentials(Unauthorized):
    slug = "invalid-credentials"
    # A failed login may have queued the owner's burst notice (accounts/throttle.py): the
    # unit of work commits it; a failed login writes nothing else.
    commits = True

    def __init__(self) -> None:
        super().__init__("Invalid email or password.")


class AccountSuspended(Forbidden):
    """Right credentials, but an administrator suspended the account: 403 (authenticated,
    not allowed), only after the password or refresh token proved who is asking."""

    slug = "account-suspended"

    def __init__(self) -> None:
        super().__init__("This account is suspended. Please contact SichrPlace support.")


class InvalidRefreshToken(Unauthorized):
    slug = "invalid-refresh-token"

    def __init__(self, detail: str = "The refresh token is invalid, expired or revoked.") -> None:
        super().__init__(detail)


class RefreshTokenReused(InvalidRefreshToken):
    """A rotated refresh token came back: its family was revoked, and that must be committed."""

    commits = True

    def __init__(self) -> None:
        super().__init__("The refresh token was already used; the session has been revoked.")


class InvalidAccessToken(Unauthorized):
    slug = "invalid-token"

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"Access token rejected: {detail}.",
            headers={
                "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{detail}"'
            },
        )


def invalid_email_token() -> Unprocessable:
    return Unprocessable.field(
        "token", "is invalid, expired or already used", slug="invalid-one-time-token"
    )


def weak_password(reason: str) -> Unprocessable:
    return Unprocessable.field("password", reason, slug="weak-password")


def wrong_current_password() -> Unprocessable:
    return Unprocessable.field("current_password", "is not correct", slug="wrong-password")
