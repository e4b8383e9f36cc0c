"""Login throttling that strangers cannot turn against an account's owner (ADR 0009).

Following OWASP's "Slow Down Online Guessing Attacks with Device Cookies":

- A login that presents a valid device token of the account (a device that logged in to it
  before) is throttled by that token alone: after `login_max_failures_per_device` attempts
  without a success in a window the token is locked out until the window ends.
- Every other login ("untrusted client") is throttled three ways: growing delays per client
  address and per (account, address), and an account-wide lockout after
  `login_max_untrusted_failures_per_account` attempts without a success in a window, which
  applies to untrusted clients only. So an attacker spraying from many addresses locks out
  untrusted clients, never the owner's known devices.
- All failures of an account are counted once more for the burst notification: exactly
  one failure per `login_burst_window_seconds` reaches `login_burst_failures`.

Unknown emails are counted exactly like known ones (by the hashed address), so the answers
never tell whether an account exists. Like every limiter here, it fails open if Redis is down.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import redis.asyncio as aioredis

from sichrplace.accounts import rules
from sichrplace.config import AuthSettings
from sichrplace.platform.ratelimit import Decision, FixedWindowLimiter, GrowingDelay


@dataclass(frozen=True)
class LoginThrottle:
    per_ip: GrowingDelay
    per_account_ip: GrowingDelay
    untrusted: FixedWindowLimiter  # per account: failures of clients without a device token
    device: FixedWindowLimiter  # per device token
    burst: FixedWindowLimiter  # per account: every failure, for the owner's notification
    burst_threshold: int

    async def admit(self, *, subject: str, ip: str, device_id: str | None) -> int | None:
        """Seconds until this attempt may be made, or None if its password may be checked.

        The lockouts count the attempt itself (one atomic increment) before the password is
        checked, so concurrent attempts cannot all slip past a check-then-count: at most
        their limit of passwords is checked per window. A success clears its count again."""
        decisions: list[Decision]
        if device_id is not None:
            decisions = [await self.device.hit(device_id)]
        else:
            decisions = list(
                await asyncio.gather(
                    self.per_ip.check(ip),
                    self.per_account_ip.check(_pair(subject, ip)),
                    self.untrusted.hit(subject),
                )
            )
        return rules.retry_after(decisions)

    async def failed(self, *, subject: str, ip: str, device_id: str | None) -> bool:
        """Count a wrong password; True for the one failure that starts a burst."""
        if device_id is None:
            await asyncio.gather(self.per_ip.fail(ip), self.per_account_ip.fail(_pair(subject, ip)))
        burst = await self.burst.hit(subject)
        return burst.count == self.burst_threshold

    async def succeeded(self, *, subject: str, ip: str, device_id: str | None) -> None:
        """Only the password's holder gets here, so clearing counts helps no attacker; a known
        device's success leaves the untrusted clients' lockout as it is."""
        if device_id is not None:
            await self.device.reset(device_id)
            return
        await asyncio.gather(
            self.per_account_ip.reset(_pair(subject, ip)), self.untrusted.reset(subject)
        )

    async def lift_account_lockout(self, subject: str) -> None:
        """After a password reset (proof of the mailbox): untrusted clients may try again."""
        await self.untrusted.reset(subject)


def _pair(subject: str, ip: str) -> str:
    return f"{subject}:{ip}"


def login_throttle(redis: aioredis.Redis, settings: AuthSettings) -> LoginThrottle:
    window = settings.login_failure_window_seconds

    def delay(name: str, free: int) -> GrowingDelay:
        return GrowingDelay(
            redis,
            name=name,
            free=free,
            base_seconds=settings.login_delay_base_seconds,
            max_delay_seconds=settings.login_delay_max_seconds,
            memory_seconds=window,
        )

    def window_limit(name: str, limit: int, seconds: int = window) -> FixedWindowLimiter:
        return FixedWindowLimiter(redis, name=name, limit=limit, window_seconds=seconds)

    return LoginThrottle(
        per_ip=delay("login-ip", settings.login_free_failures_per_ip),
        per_account_ip=delay("login-account-ip", settings.login_free_failures_per_account_ip),
        untrusted=window_limit(
            "login-untrusted", settings.login_max_untrusted_failures_per_account
        ),
        device=window_limit("login-device", settings.login_max_failures_per_device),
        burst=window_limit(
            "login-burst", settings.login_burst_failures, settings.login_burst_window_seconds
        ),
        burst_threshold=settings.login_burst_failures,
    )
