"""Accounts use cases: registration, login with throttling, token rotation, emailed tokens.

Module functions with explicit parameters (docs/adr/0006-domain-shape.md); the decisions are
the pure rules of `accounts.rules`. Services never commit: the request boundary does. One
exception to "an error rolls back": when a rotated refresh token is replayed, the family
revocation must persist although the answer is 401 — `refresh` raises `RefreshTokenReused`,
a problem that `commits` (the boundary commits the revocation, then answers 401).
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from dataclasses import dataclass
from datetime import timedelta

import redis.asyncio as aioredis
import structlog

from sichrplace.accounts import repository as repo
from sichrplace.accounts import rules, security
from sichrplace.accounts.errors import (
    EmailTaken,
    InvalidCredentials,
    InvalidRefreshToken,
    RefreshTokenReused,
    invalid_email_token,
)
from sichrplace.accounts.models import Role, TokenPurpose
from sichrplace.accounts.records import UserRow
from sichrplace.accounts.rules import RefreshVerdict
from sichrplace.accounts.security import AuthRuntime
from sichrplace.config import AuthSettings
from sichrplace.kit.clock import utcnow
from sichrplace.kit.errors import NotFound, TooManyRequests
from sichrplace.notifications.service import queue_email
from sichrplace.platform.db import PrimarySession, on_commit
from sichrplace.platform.ratelimit import FixedWindowLimiter

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int


# --- registration and profile -----------------------------------------------------------------


async def register(
    session: PrimarySession,
    auth: AuthRuntime,
    *,
    email: str,
    password: str,
    full_name: str,
    role: Role,
) -> UserRow:
    rules.check_password(password, security.common_passwords())
    password_hash = await auth.passwords.hash(password)
    user = await repo.insert_user(
        session, email=email, password_hash=password_hash, full_name=full_name, role=role.value
    )
    if user is None:
        raise EmailTaken()
    await _send_verification(session, auth, user)
    return user


async def profile(session: PrimarySession, user_id: uuid.UUID) -> UserRow:
    user = await repo.get_user(session, user_id)
    if user is None:
        raise NotFound("user not found")
    return user


# --- login, refresh, logout -------------------------------------------------------------------


def _login_limiters(
    redis: aioredis.Redis, settings: AuthSettings
) -> tuple[FixedWindowLimiter, FixedWindowLimiter]:
    """Failed logins counted per account and per client address."""
    window = settings.login_failure_window_seconds
    return (
        FixedWindowLimiter(
            redis,
            name="login-fail-account",
            limit=settings.login_max_failures_per_account,
            window_seconds=window,
        ),
        FixedWindowLimiter(
            redis,
            name="login-fail-ip",
            limit=settings.login_max_failures_per_ip,
            window_seconds=window,
        ),
    )


async def login(
    session: PrimarySession,
    auth: AuthRuntime,
    redis: aioredis.Redis,
    *,
    email: str,
    password: str,
    client_ip: str,
) -> TokenPair:
    by_account, by_ip = _login_limiters(redis, auth.settings)
    subject = rules.throttle_subject(email)
    wait = rules.retry_after(
        await asyncio.gather(by_account.check(subject), by_ip.check(client_ip))
    )
    if wait is not None:
        raise TooManyRequests(wait, "Too many failed login attempts; try again later.")
    user = await repo.get_user_by_email(session, email.strip())
    if user is None:
        await auth.passwords.verify_dummy(password)
    if user is None or not await auth.passwords.verify(user.password_hash, password):
        await asyncio.gather(by_account.hit(subject), by_ip.hit(client_ip))
        raise InvalidCredentials()
    await by_account.reset(subject)
    if auth.passwords.needs_rehash(user.password_hash):
        new_hash = await auth.passwords.hash(password)
        await repo.set_password_hash(session, user.id, new_hash, changed=False)
    family_id = await repo.insert_family(session, user.id)
    return await _issue_pair(session, auth, user, family_id)


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
    await repo.mark_refresh_token_used(session, token.token_id, now)
    return await _issue_pair(session, auth, user, token.family_id)


async def logout(session: PrimarySession, *, user_id: uuid.UUID, session_id: uuid.UUID) -> None:
    await repo.revoke_family(session, session_id, "logout", user_id=user_id)


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
    link = f"{auth.public_base_url}/verify-email?token={token}"
    body = (
        f"Hello {user.full_name},\n\n"
        "welcome to SichrPlace! Please confirm your email address by opening this link:\n\n"
        f"{link}\n\n"
        f"Or enter this code in the app: {token}\n\n"
        f"The link is valid for {ttl // 3600} hours.\n"
    )
    await queue_email(
        session,
        to=user.email,
        subject="Confirm your SichrPlace email address",
        body=body,
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
    body = (
        f"Hello {user.full_name},\n\n"
        "someone (hopefully you) asked to reset your SichrPlace password. "
        "To choose a new one, open this link:\n\n"
        f"{auth.public_base_url}/reset-password?token={token}\n\n"
        f"Or enter this code in the app: {token}\n\n"
        f"The link is valid for {max(1, ttl // 60)} minutes and works once. "
        "If you did not ask for it, ignore this mail: your password stays as it is.\n"
    )
    await queue_email(
        session,
        to=user.email,
        subject="Reset your SichrPlace password",
        body=body,
        dedupe_key=f"accounts:password-reset:{token_id}",
    )


async def confirm_password_reset(
    session: PrimarySession, auth: AuthRuntime, redis: aioredis.Redis, token: str, password: str
) -> None:
    rules.check_password(password, security.common_passwords())
    password_hash = await auth.passwords.hash(password)
    user = await _spend_token(session, token, TokenPurpose.PASSWORD_RESET)
    await repo.set_password_hash(session, user.id, password_hash, changed=True)
    await repo.revoke_all_families(session, user.id, "password_reset")
    # A reset proves control of the mailbox: lift the account's login lock once committed.
    by_account, _ = _login_limiters(redis, auth.settings)
    on_commit(session, functools.partial(by_account.reset, rules.throttle_subject(user.email)))
