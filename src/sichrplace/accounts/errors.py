"""Accounts problems, each with a stable problem `type` slug."""

from __future__ import annotations

from sichrplace.kit.errors import Conflict, Forbidden, Unauthorized, Unprocessable
from sichrplace.kit.i18n import N_, Msg


class EmailTaken(Conflict):
    slug = "email-taken"

    def __init__(self) -> None:
        super().__init__(N_("An account with this email address already exists."))


class InvalidCredentials(Unauthorized):
    slug = "invalid-credentials"
    # A failed login may have queued the owner's burst notice (accounts/throttle.py): the
    # unit of work commits it; a failed login writes nothing else.
    commits = True

    def __init__(self) -> None:
        super().__init__(N_("Invalid email or password."))


class AccountSuspended(Forbidden):
    """Right credentials, but an administrator suspended the account: 403 (authenticated,
    not allowed), only after the password or refresh token proved who is asking."""

    slug = "account-suspended"

    def __init__(self) -> None:
        super().__init__(N_("This account is suspended. Please contact SichrPlace support."))


class InvalidRefreshToken(Unauthorized):
    slug = "invalid-refresh-token"

    def __init__(self, detail: Msg | None = None) -> None:
        super().__init__(detail or N_("The refresh token is invalid, expired or revoked."))


class RefreshTokenReused(InvalidRefreshToken):
    """A rotated refresh token came back: its family was revoked, and that must be committed."""

    commits = True

    def __init__(self) -> None:
        super().__init__(N_("The refresh token was already used; the session has been revoked."))


# Why an access token was refused, by the reason `security` and the session check give
# (English, as the WWW-Authenticate header's error_description says it).
TOKEN_REASONS: dict[str, Msg] = {
    "malformed token": N_("malformed token"),
    "unknown signing key": N_("unknown signing key"),
    "token expired": N_("token expired"),
    "invalid token": N_("invalid token"),
    "invalid token claims": N_("invalid token claims"),
    "session ended": N_("session ended"),
}


class InvalidAccessToken(Unauthorized):
    slug = "invalid-token"

    def __init__(self, reason: str) -> None:
        super().__init__(
            N_(
                "Access token rejected: {reason}.",
                reason=TOKEN_REASONS.get(reason, TOKEN_REASONS["invalid token"]),
            ),
            headers={
                "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{reason}"'
            },
        )


def invalid_email_token() -> Unprocessable:
    return Unprocessable.field(
        "token", N_("is invalid, expired or already used"), slug="invalid-one-time-token"
    )


def weak_password(reason: Msg) -> Unprocessable:
    return Unprocessable.field("password", reason, slug="weak-password")


def wrong_current_password() -> Unprocessable:
    return Unprocessable.field("current_password", N_("is not correct"), slug="wrong-password")


def missing_bearer_token() -> Unauthorized:
    return Unauthorized(N_("Missing bearer token."))


def user_not_found() -> Msg:
    return N_("No such user.")
