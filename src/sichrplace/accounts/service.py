"""Accounts rules: registration, login with throttling, token rotation, emailed tokens.

Services never commit: the request boundary does. One exception to "an error rolls back":
when a rotated refresh token is replayed, the family revocation must persist although the
answer is 401 — `refresh` raises `RefreshTokenReused`, a problem that `commits` (the
boundary commits the revocation, then answers 401).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import uuid
from dataclasses import dataclass
from datetime import timedelta

import redis.asyncio as aioredis
import structlog

from sichrplace.accounts import repository as repo
from sichrplace.accounts import security
from sichrplace.accounts.errors import (
    EmailTaken,
    InvalidCredentials,
    InvalidRefreshToken,
    RefreshTokenReused,
    invalid_email_token,
    weak_password,
)
from sichrplace.accounts.models import Role, TokenPurpose, User
from sichrplace.accounts.security import AuthRuntime
from sichrplace.kit.clock import utcnow
from sichrplace.kit.errors import NotFound, TooManyRequests
from sichrplace.notifications.service import queue_email
from sichrplace.platform.db import PrimarySession, on_commit
from sichrplace.platform.ratelimit import FixedWindowLimiter

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int


def check_password(password: str) -> None:
    reason = security.password_problem(password)
    if reason is not None:
        raise weak_password(reason)


def _subject(email: str) -> str:
    """Throttle key for an email: hashed, so Redis holds no addresses."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


class AccountService:
    def __init__(self, session: PrimarySession, auth: AuthRuntime, redis: aioredis.Redis) -> None:
        self.session = session
        self.auth = auth
        self.settings = auth.settings
        self.redis = redis

    # --- registration and profile -----------------------------------------------------------

    async def register(self, *, email: str, password: str, full_name: str, role: Role) -> User:
        check_password(password)
        password_hash = await self.auth.passwords.hash(password)
        user = await repo.insert_user(
            self.session,
            email=email,
            password_hash=password_hash,
            full_name=full_name,
            role=role.value,
        )
        if user is None:
            raise EmailTaken()
        await self._send_verification(user)
        return user

    async def profile(self, user_id: uuid.UUID) -> User:
        user = await repo.get_user(self.session, user_id)
        if user is None:
            raise NotFound("user not found")
        return user

    # --- login, refresh, logout -------------------------------------------------------------

    def _login_limiters(self) -> tuple[FixedWindowLimiter, FixedWindowLimiter]:
        s = self.settings
        window = s.login_failure_window_seconds
        return (
            FixedWindowLimiter(
                self.redis,
                name="login-fail-account",
                limit=s.login_max_failures_per_account,
                window_seconds=window,
            ),
            FixedWindowLimiter(
                self.redis,
                name="login-fail-ip",
                limit=s.login_max_failures_per_ip,
                window_seconds=window,
            ),
        )

    async def login(self, *, email: str, password: str, client_ip: str) -> TokenPair:
        by_account, by_ip = self._login_limiters()
        subject = _subject(email)
        decisions = await asyncio.gather(by_account.check(subject), by_ip.check(client_ip))
        blocked = [d for d in decisions if not d.allowed]
        if blocked:
            retry_after = max(d.retry_after for d in blocked)
            raise TooManyRequests(retry_after, "Too many failed login attempts; try again later.")
        user = await repo.get_user_by_email(self.session, email.strip())
        if user is None:
            await self.auth.passwords.verify_dummy(password)
        if user is None or not await self.auth.passwords.verify(user.password_hash, password):
            await asyncio.gather(by_account.hit(subject), by_ip.hit(client_ip))
            raise InvalidCredentials()
        await by_account.reset(subject)
        if self.auth.passwords.needs_rehash(user.password_hash):
            new_hash = await self.auth.passwords.hash(password)
            await repo.set_password_hash(self.session, user.id, new_hash, changed=False)
        family_id = await repo.insert_family(self.session, user.id)
        return await self._issue_pair(user, family_id)

    async def _issue_pair(self, user: User, family_id: uuid.UUID) -> TokenPair:
        now = utcnow()
        refresh = security.new_opaque_token()
        ttl = self.settings.refresh_token_ttl_seconds
        await repo.insert_refresh_token(
            self.session, family_id, security.token_digest(refresh), now + timedelta(seconds=ttl)
        )
        access = self.auth.access_tokens.issue(
            user_id=user.id, email=user.email, role=user.role, session_id=family_id, now=now
        )
        return TokenPair(access, refresh, self.settings.access_token_ttl_seconds, ttl)

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Rotate: the presented token dies, a new one joins its family; replay kills the family."""
        row = await repo.lock_refresh_token(self.session, security.token_digest(refresh_token))
        if row is None or row.family_revoked_at is not None:
            raise InvalidRefreshToken()
        now = utcnow()
        if row.used_at is not None:
            await repo.revoke_family(self.session, row.family_id, "reuse")
            log.warning("refresh_token_reuse", family_id=str(row.family_id))
            raise RefreshTokenReused()
        max_age = timedelta(seconds=self.settings.session_max_age_seconds)
        if row.expires_at <= now or row.family_created_at + max_age <= now:
            raise InvalidRefreshToken()
        user = await repo.get_user(self.session, row.user_id)
        if user is None:
            raise InvalidRefreshToken()
        await repo.mark_refresh_token_used(self.session, row.token_id, now)
        return await self._issue_pair(user, row.family_id)

    async def logout(self, *, user_id: uuid.UUID, session_id: uuid.UUID) -> None:
        await repo.revoke_family(self.session, session_id, "logout", user_id=user_id)

    async def _mail(self, *, to: str, subject: str, body: str, dedupe_key: str) -> None:
        """Enqueue a mail in this transaction: it is sent only if the request commits."""
        await queue_email(self.session, to=to, subject=subject, body=body, dedupe_key=dedupe_key)

    # --- email verification -----------------------------------------------------------------

    async def _new_account_token(
        self, user: User, purpose: TokenPurpose, ttl: int
    ) -> tuple[uuid.UUID, str]:
        token = security.new_opaque_token()
        expires_at = utcnow() + timedelta(seconds=ttl)
        token_id = await repo.insert_account_token(
            self.session, user.id, purpose, security.token_digest(token), expires_at
        )
        return token_id, token

    async def _send_verification(self, user: User) -> None:
        ttl = self.settings.verify_email_ttl_seconds
        token_id, token = await self._new_account_token(user, TokenPurpose.VERIFY_EMAIL, ttl)
        link = f"{self.auth.public_base_url}/verify-email?token={token}"
        body = (
            f"Hello {user.full_name},\n\n"
            "welcome to SichrPlace! Please confirm your email address by opening this link:\n\n"
            f"{link}\n\n"
            f"Or enter this code in the app: {token}\n\n"
            f"The link is valid for {ttl // 3600} hours.\n"
        )
        await self._mail(
            to=user.email,
            subject="Confirm your SichrPlace email address",
            body=body,
            dedupe_key=f"accounts:verify-email:{token_id}",
        )

    async def _spend_token(self, token: str, purpose: TokenPurpose) -> User:
        row = await repo.lock_account_token(self.session, security.token_digest(token), purpose)
        now = utcnow()
        if row is None or row.used_at is not None or row.expires_at <= now:
            raise invalid_email_token()
        user = await repo.get_user(self.session, row.user_id)
        if user is None:
            raise invalid_email_token()
        await repo.use_account_tokens(self.session, user.id, purpose, now)
        return user

    async def verify_email(self, token: str) -> User:
        user = await self._spend_token(token, TokenPurpose.VERIFY_EMAIL)
        await repo.mark_email_verified(self.session, user.id)
        await self.session.refresh(user)
        return user

    # --- password reset ---------------------------------------------------------------------

    async def request_password_reset(self, email: str) -> None:
        """Mail a reset link if the account exists; the caller always answers 202."""
        user = await repo.get_user_by_email(self.session, email.strip())
        if user is None:
            return
        quota = FixedWindowLimiter(
            self.redis,
            name="password-reset-mail",
            limit=self.settings.password_reset_mails_per_hour,
            window_seconds=3600,
        )
        if not (await quota.hit(str(user.id))).allowed:
            log.info("password_reset_mail_quota", user_id=str(user.id))
            return
        ttl = self.settings.password_reset_ttl_seconds
        token_id, token = await self._new_account_token(user, TokenPurpose.PASSWORD_RESET, ttl)
        body = (
            f"Hello {user.full_name},\n\n"
            "someone (hopefully you) asked to reset your SichrPlace password. "
            "To choose a new one, open this link:\n\n"
            f"{self.auth.public_base_url}/reset-password?token={token}\n\n"
            f"Or enter this code in the app: {token}\n\n"
            f"The link is valid for {max(1, ttl // 60)} minutes and works once. "
            "If you did not ask for it, ignore this mail: your password stays as it is.\n"
        )
        await self._mail(
            to=user.email,
            subject="Reset your SichrPlace password",
            body=body,
            dedupe_key=f"accounts:password-reset:{token_id}",
        )

    async def confirm_password_reset(self, token: str, password: str) -> None:
        check_password(password)
        password_hash = await self.auth.passwords.hash(password)
        user = await self._spend_token(token, TokenPurpose.PASSWORD_RESET)
        await repo.set_password_hash(self.session, user.id, password_hash, changed=True)
        await repo.revoke_all_families(self.session, user.id, "password_reset")
        # A reset proves control of the mailbox: lift the account's login lock once committed.
        by_account, _ = self._login_limiters()
        on_commit(self.session, functools.partial(by_account.reset, _subject(user.email)))
