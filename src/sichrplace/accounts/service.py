"""Accounts use cases: registration, login with throttling, token rotation, sessions that end
(logout, everywhere, password change, suspension), emailed tokens.

Module functions with explicit parameters (docs/adr/0006-domain-shape.md); the decisions are
the pure rules of `accounts.rules`. Services never commit: the request boundary does. One
exception to "an error rolls back": when a rotated refresh token is replayed, the family
revocation must persist although the answer is 401 — `refresh` raises `RefreshTokenReused`,
a problem that `commits` (the boundary commits the revocation, then answers 401).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis.asyncio as aioredis
import structlog

from sichrplace.accounts import mails, rules, security, sessions
from sichrplace.accounts import repository as repo
from sichrplace.accounts.errors import (
    AccountSuspended,
    EmailTaken,
    InvalidCredentials,
    InvalidRefreshToken,
    RefreshTokenReused,
    invalid_email_token,
    user_not_found,
    wrong_current_password,
)
from sichrplace.accounts.models import Role, TokenPurpose
from sichrplace.accounts.records import UserRow
from sichrplace.accounts.rules import RefreshVerdict
from sichrplace.accounts.security import AuthRuntime
from sichrplace.accounts.throttle import login_throttle
from sichrplace.config import AuthSettings
from sichrplace.kit.clock import utcnow
from sichrplace.kit.errors import NotFound, TooManyRequests
from sichrplace.kit.i18n import DEFAULT_LANGUAGE, N_, Language, language_of
from sichrplace.notifications.service import queue_email
from sichrplace.platform.db import PrimarySession, on_commit
from sichrplace.platform.observability import business
from sichrplace.platform.observability.tracing import traced
from sichrplace.platform.ratelimit import FixedWindowLimiter

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int


@dataclass(frozen=True, slots=True)
class LoginResult:
    tokens: TokenPair
    device_token: str  # for the device's next logins (accounts/throttle.py)


# --- registration and profile -----------------------------------------------------------------


async def register(
    session: PrimarySession,
    auth: AuthRuntime,
    *,
    email: str,
    password: str,
    full_name: str,
    role: Role,
    language: Language = DEFAULT_LANGUAGE,
) -> UserRow:
    """`language`: the new account's first language (the registering request's, see
    docs/architecture.md "Languages"); the verification mail is written in it."""
    rules.check_password(password, security.common_passwords())
    password_hash = await auth.passwords.hash(password)
    user = await repo.insert_user(
        session,
        email=email,
        password_hash=password_hash,
        full_name=full_name,
        role=role.value,
        language=language,
    )
    if user is None:
        raise EmailTaken()
    await _send_verification(session, auth, user)
    business.registration(session, role.value)
    return user


async def profile(session: PrimarySession, user_id: uuid.UUID) -> UserRow:
    user = await repo.get_user(session, user_id)
    if user is None:
        raise NotFound(user_not_found())
    return user


# --- login, refresh, logout -------------------------------------------------------------------


@traced("auth.login")
async def login(
    session: PrimarySession,
    auth: AuthRuntime,
    redis: aioredis.Redis,
    *,
    email: str,
    password: str,
    client_ip: str,
    device_tokens: Sequence[str] = (),
) -> LoginResult:
    """Check the throttle (accounts/throttle.py), then the password; a success gets a token
    pair and a new device token. `device_tokens`: what the client presented (header, cookie)."""
    throttle = login_throttle(redis, auth.settings)
    subject = rules.throttle_subject(email)
    user: UserRow | None = None
    device_id = None
    if device_tokens:  # only a known device needs the account before the throttle
        user = await repo.get_user_by_email(session, email.strip())
        if user is not None:
            device_id = _device_id(auth, device_tokens, user.id)
    wait = await throttle.admit(subject=subject, ip=client_ip, device_id=device_id)
    if wait is not None:
        raise TooManyRequests(wait, N_("Too many failed login attempts; try again later."))
    if not device_tokens:
        user = await repo.get_user_by_email(session, email.strip())
    if user is None:
        await auth.passwords.verify_dummy(password)
    if user is None or not await auth.passwords.verify(user.password_hash, password):
        if await throttle.failed(subject=subject, ip=client_ip, device_id=device_id) and user:
            await _notify_burst(session, auth, user)
        raise InvalidCredentials()  # commits: the burst notice, if any, is sent
    if user.suspended_at is not None:
        raise AccountSuspended()
    await throttle.succeeded(subject=subject, ip=client_ip, device_id=device_id)
    if auth.passwords.needs_rehash(user.password_hash):
        new_hash = await auth.passwords.hash(password)
        await repo.set_password_hash(session, user.id, new_hash, changed=False)
    family_id = await repo.insert_family(session, user.id)
    sessions.after_commit(session, redis, auth.settings, live=[family_id])
    pair = await _issue_pair(session, auth, user, family_id)
    device_token = auth.device_tokens.issue(user_id=user.id, now=utcnow())
    return LoginResult(pair, device_token)


def _device_id(auth: AuthRuntime, tokens: Sequence[str], user_id: uuid.UUID) -> str | None:
    for token in tokens:
        device_id = auth.device_tokens.device_id(token, user_id)
        if device_id is not None:
            return device_id
    return None


async def _notify_burst(session: PrimarySession, auth: AuthRuntime, user: UserRow) -> None:
    """Once per burst window (the throttle picks the one failure), through the mail queue."""
    settings = auth.settings
    window = settings.login_burst_window_seconds
    letter = mails.sign_in_burst(
        language_of(user.language),
        full_name=user.full_name,
        failures=settings.login_burst_failures,
        window_minutes=max(1, window // 60),
        reset_url=f"{auth.public_base_url}/reset-password",
    )
    await queue_email(
        session,
        to=user.email,
        subject=letter.subject,
        body=letter.body,
        language=letter.language,
        dedupe_key=f"accounts:login-burst:{user.id}:{uuid.uuid4().hex}",
    )


async def _issue_pair(
    session: PrimarySession, auth: AuthRuntime, user: UserRow, family_id: uuid.UUID
) -> TokenPair:
    now = utcnow()
    refresh_token = security.new_opaque_token()
    ttl = auth.settings.refresh_token_ttl_seconds
    await repo.insert_refresh_token(
        session, family_id, security.token_digest(refresh_token), now + timedelta(seconds=ttl)
    )
    access = auth.access_tokens.issue(
        user_id=user.id, email=user.email, role=user.role, session_id=family_id, now=now
    )
    return TokenPair(access, refresh_token, auth.settings.access_token_ttl_seconds, ttl)


async def refresh(session: PrimarySession, auth: AuthRuntime, refresh_token: str) -> TokenPair:
    """Rotate: the presented token dies, a new one joins its family; replay kills the family."""
    token = await repo.lock_refresh_token(session, security.token_digest(refresh_token))
    now = utcnow()
    max_age = timedelta(seconds=auth.settings.session_max_age_seconds)
    verdict = rules.refresh_verdict(token, now=now, session_max_age=max_age)
    if verdict is RefreshVerdict.REPLAYED:
        assert token is not None
        await repo.revoke_family(session, token.family_id, "reuse")
        log.warning("refresh_token_reuse", family_id=str(token.family_id))
        raise RefreshTokenReused()
    if verdict is not RefreshVerdict.ROTATE or token is None:
        raise InvalidRefreshToken()
    user = await repo.get_user(session, token.user_id)
    if user is None:
        raise InvalidRefreshToken()
    if user.suspended_at is not None:
        raise AccountSuspended()
    await repo.mark_refresh_token_used(session, token.token_id, now)
    return await _issue_pair(session, auth, user, token.family_id)


async def logout(
    session: PrimarySession,
    redis: aioredis.Redis,
    settings: AuthSettings,
    *,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
) -> None:
    """End one session: its refresh tokens at once, its access tokens once Redis is told."""
    await repo.revoke_family(session, session_id, "logout", user_id=user_id)
    sessions.after_commit(session, redis, settings, revoked=[session_id])


async def end_sessions(
    session: PrimarySession,
    redis: aioredis.Redis,
    settings: AuthSettings,
    user_id: uuid.UUID,
    reason: str,
    *,
    keep: uuid.UUID | None = None,
) -> None:
    """End every session of the user but `keep` ("log out everywhere", password changes)."""
    revoked = await repo.revoke_all_families(session, user_id, reason, keep=keep)
    sessions.after_commit(session, redis, settings, revoked=revoked)


async def change_password(
    session: PrimarySession,
    auth: AuthRuntime,
    redis: aioredis.Redis,
    *,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    current_password: str,
    new_password: str,
    client_ip: str,
) -> None:
    """A new password for a signed-in user who knows the current one; every other session
    ends, the caller's goes on. Wrong current passwords get the login's growing delays per
    (account, address): a stolen access token is no way around the login throttle."""
    user = await repo.get_user(session, user_id)
    if user is None:
        raise wrong_current_password()
    delays = login_throttle(redis, auth.settings).per_account_ip
    pair = f"{rules.throttle_subject(user.email)}:{client_ip}"
    wait = (await delays.check(pair)).retry_after
    if wait:
        raise TooManyRequests(wait, N_("Too many wrong passwords; try again later."))
    if not await auth.passwords.verify(user.password_hash, current_password):
        await delays.fail(pair)
        raise wrong_current_password()
    rules.check_password(new_password, security.common_passwords())
    password_hash = await auth.passwords.hash(new_password)
    await repo.set_password_hash(session, user.id, password_hash, changed=True)
    await end_sessions(session, redis, auth.settings, user.id, "password_change", keep=session_id)


async def set_suspended(
    session: PrimarySession,
    redis: aioredis.Redis,
    settings: AuthSettings,
    user_id: uuid.UUID,
    *,
    suspended: bool,
) -> UserRow:
    """Suspend (every session ends, no login or refresh until lifted) or lift a suspension
    (the user logs in again: ended sessions stay ended)."""
    if not await repo.set_suspended(session, user_id, suspended=suspended):
        raise NotFound(user_not_found())
    if suspended:
        await end_sessions(session, redis, settings, user_id, "suspended")
    user = await profile(session, user_id)
    sessions.after_commit(session, redis, settings, user=(user_id, suspended, user.language))
    return user


# --- emailed tokens: verification and password reset ------------------------------------------


async def _new_account_token(
    session: PrimarySession, user: UserRow, purpose: TokenPurpose, ttl: int
) -> tuple[uuid.UUID, str]:
    token = security.new_opaque_token()
    expires_at = utcnow() + timedelta(seconds=ttl)
    token_id = await repo.insert_account_token(
        session, user.id, purpose, security.token_digest(token), expires_at
    )
    return token_id, token


async def _send_verification(session: PrimarySession, auth: AuthRuntime, user: UserRow) -> None:
    """Enqueued in this transaction: the mail is sent only if the request commits."""
    ttl = auth.settings.verify_email_ttl_seconds
    token_id, token = await _new_account_token(session, user, TokenPurpose.VERIFY_EMAIL, ttl)
    letter = mails.verification(
        language_of(user.language),
        full_name=user.full_name,
        link=f"{auth.public_base_url}/verify-email?token={token}",
        code=token,
        hours=max(1, ttl // 3600),
    )
    await queue_email(
        session,
        to=user.email,
        subject=letter.subject,
        body=letter.body,
        language=letter.language,
        dedupe_key=f"accounts:verify-email:{token_id}",
    )


async def _spend_token(session: PrimarySession, token: str, purpose: TokenPurpose) -> UserRow:
    row = await repo.lock_account_token(session, security.token_digest(token), purpose)
    now = utcnow()
    if row is None or not rules.email_token_usable(row, now=now):
        raise invalid_email_token()
    user = await repo.get_user(session, row.user_id)
    if user is None:
        raise invalid_email_token()
    await repo.use_account_tokens(session, user.id, purpose, now)
    return user


async def verify_email(session: PrimarySession, token: str) -> UserRow:
    user = await _spend_token(session, token, TokenPurpose.VERIFY_EMAIL)
    await repo.mark_email_verified(session, user.id)
    verified = await repo.get_user(session, user.id)
    if verified is None:
        raise invalid_email_token()
    return verified


async def request_password_reset(
    session: PrimarySession, auth: AuthRuntime, redis: aioredis.Redis, email: str
) -> None:
    """Mail a reset link if the account exists; the caller always answers 202."""
    user = await repo.get_user_by_email(session, email.strip())
    if user is None:
        return
    quota = FixedWindowLimiter(
        redis,
        name="password-reset-mail",
        limit=auth.settings.password_reset_mails_per_hour,
        window_seconds=3600,
    )
    if not (await quota.hit(str(user.id))).allowed:
        log.info("password_reset_mail_quota", user_id=str(user.id))
        return
    ttl = auth.settings.password_reset_ttl_seconds
    token_id, token = await _new_account_token(session, user, TokenPurpose.PASSWORD_RESET, ttl)
    letter = mails.password_reset(
        language_of(user.language),
        full_name=user.full_name,
        link=f"{auth.public_base_url}/reset-password?token={token}",
        code=token,
        minutes=max(1, ttl // 60),
    )
    await queue_email(
        session,
        to=user.email,
        subject=letter.subject,
        body=letter.body,
        language=letter.language,
        dedupe_key=f"accounts:password-reset:{token_id}",
    )


async def confirm_password_reset(
    session: PrimarySession, auth: AuthRuntime, redis: aioredis.Redis, token: str, password: str
) -> None:
    rules.check_password(password, security.common_passwords())
    password_hash = await auth.passwords.hash(password)
    user = await _spend_token(session, token, TokenPurpose.PASSWORD_RESET)
    await repo.set_password_hash(session, user.id, password_hash, changed=True)
    await end_sessions(session, redis, auth.settings, user.id, "password_reset")
    # A reset proves control of the mailbox: lift the account's login lock once committed.
    throttle = login_throttle(redis, auth.settings)
    subject = rules.throttle_subject(user.email)
    on_commit(session, functools.partial(throttle.lift_account_lockout, subject))


# --- profile settings -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Profile:
    user: UserRow
    language: str
    notification_preferences: dict[str, dict[str, bool]]


async def full_profile(session: PrimarySession, user_id: uuid.UUID) -> Profile:
    """The user with their language and effective notification preferences."""
    user = await profile(session, user_id)
    stored = await repo.profile_settings(session, user_id)
    if stored is None:
        raise NotFound(user_not_found())
    return Profile(
        user, stored.language, rules.effective_preferences(stored.notification_preferences)
    )


async def update_profile(
    session: PrimarySession,
    redis: aioredis.Redis,
    user_id: uuid.UUID,
    *,
    full_name: str | None,
    language: str | None,
    notification_preferences: Mapping[str, Mapping[str, bool]] | None,
    now: datetime,
) -> Profile:
    """Change what is given; preferences merge kind by kind, channel by channel."""
    stored = await repo.lock_profile_settings(session, user_id)
    if stored is None:
        raise NotFound(user_not_found())
    preferences = None
    if notification_preferences is not None:
        preferences = rules.merged_preferences(
            stored.notification_preferences, notification_preferences
        )
    await repo.update_profile(
        session,
        user_id,
        full_name=full_name,
        language=language,
        notification_preferences=preferences,
        now=now,
    )
    if language is not None and language != stored.language:
        sessions.language_after_commit(session, redis, user_id, language)
    return await full_profile(session, user_id)
