"""Is an access token's session still live? Redis answers, the database decides (ADR 0009).

Every access token names its session (`sid`, the refresh-token family of its login). Two
Redis keys say whether it may still be used: `auth:session:<sid>` ("1" live, "0" revoked) and
`auth:user:<uid>` ("ok:<language>", or "s" suspended). One MGET per authenticated request
reads both, and so also learns the user's language (the language of their problems) without
a query of its own; `PATCH /me` writes the new one after its commit, so it holds at once on
every instance.

- A miss reads the primary (`repository.session_state`) and fills the keys with SET NX: a
  fill that read the database before a revocation committed cannot overwrite the
  revocation's own write, which is a plain SET made after the commit.
- "Live" answers expire after `session_cache_seconds`, which bounds the harm of a lost
  revocation write (Redis unreachable at that moment); "revoked" ones after an access token's
  lifetime, when every token of that session has expired anyway.
- Redis down: the primary answers every check (never fail open).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from sichrplace.accounts import repository as repo
from sichrplace.config import AuthSettings
from sichrplace.platform.db import on_commit
from sichrplace.platform.db.engines import Database
from sichrplace.platform.db.sessions import PrimarySession

log = structlog.get_logger(__name__)

_REDIS_FAILURES = (RedisError, OSError, TimeoutError)
LIVE, REVOKED = b"1", b"0"
USER_OK, USER_SUSPENDED = b"ok", b"s"


def _user_ok(language: str) -> bytes:
    return USER_OK + b":" + language.encode("ascii")


@dataclass(frozen=True, slots=True)
class SessionCheck:
    live: bool
    language: str | None = None  # the user's, when live ('de' | 'en')


def _cached_user(value: bytes | None) -> tuple[bool, str | None] | None:
    """(ok, language) of a cached user value; None when nothing usable is cached. A bare "ok"
    (cached before the language was) is ok with the language unknown."""
    if value == USER_SUSPENDED:
        return False, None
    if value is None or not value.startswith(USER_OK):
        return None
    language = value[len(USER_OK) + 1 :].decode("ascii", "replace")
    return True, language or None


def session_key(session_id: uuid.UUID) -> str:
    return f"auth:session:{session_id.hex}"


def user_key(user_id: uuid.UUID) -> str:
    return f"auth:user:{user_id.hex}"


async def _from_database(
    db: Database, user_id: uuid.UUID, session_id: uuid.UUID
) -> tuple[bool, bool, str]:
    """(session live, user ok, language) from the primary: the source of truth."""
    async with db.sessionmaker() as session:
        state = await repo.session_state(session, user_id, session_id)
    if state is None:  # the user is gone
        return False, False, ""
    return state.session_live, not state.suspended, state.language


async def check_session(
    redis: aioredis.Redis,
    db: Database,
    settings: AuthSettings,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
) -> SessionCheck:
    """May an access token of `session_id` (issued to `user_id`) still be used, and in which
    language does its user read?"""
    keys = (session_key(session_id), user_key(user_id))
    try:
        cached_session, cached_user = await redis.mget(keys)
    except _REDIS_FAILURES as exc:
        log.warning("session_check_redis_unavailable", error=repr(exc)[:200])
        live, user_ok, language = await _from_database(db, user_id, session_id)
        return SessionCheck(live and user_ok, language if live and user_ok else None)
    user = _cached_user(cached_user if isinstance(cached_user, bytes | None) else None)
    if cached_session == REVOKED or (user is not None and not user[0]):
        return SessionCheck(False)
    if cached_session == LIVE and user is not None:
        return SessionCheck(True, user[1])
    live, user_ok, language = await _from_database(db, user_id, session_id)
    await _fill(redis, settings, keys, live=live, user_ok=user_ok, language=language)
    return SessionCheck(live and user_ok, language if live and user_ok else None)


async def session_live(
    redis: aioredis.Redis,
    db: Database,
    settings: AuthSettings,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
) -> bool:
    """May an access token of `session_id` (issued to `user_id`) still be used?"""
    return (await check_session(redis, db, settings, user_id, session_id)).live


async def _fill(
    redis: aioredis.Redis,
    settings: AuthSettings,
    keys: tuple[str, str],
    *,
    live: bool,
    user_ok: bool,
    language: str,
) -> None:
    live_ttl, dead_ttl = settings.session_cache_seconds, _dead_ttl(settings)
    try:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.set(keys[0], LIVE if live else REVOKED, nx=True, ex=live_ttl if live else dead_ttl)
            pipe.set(
                keys[1],
                _user_ok(language) if user_ok else USER_SUSPENDED,
                nx=True,
                ex=live_ttl if user_ok else dead_ttl,
            )
            await pipe.execute()
    except _REDIS_FAILURES as exc:
        log.warning("session_fill_failed", error=repr(exc)[:200])


def _dead_ttl(settings: AuthSettings) -> int:
    # Past an access token's lifetime every token of the session is refused as expired.
    return settings.access_token_ttl_seconds + 60


async def publish(
    redis: aioredis.Redis,
    settings: AuthSettings,
    *,
    revoked: Iterable[uuid.UUID] = (),
    live: Iterable[uuid.UUID] = (),
    user: tuple[uuid.UUID, bool, str] | None = None,
) -> None:
    """After commit: write what the database now says (revoked sessions, a new live session,
    a user's suspension or language: `user` is (id, suspended, language)), overwriting
    whatever a check cached."""
    dead_ttl = _dead_ttl(settings)
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for sid in revoked:
                pipe.set(session_key(sid), REVOKED, ex=dead_ttl)
            for sid in live:
                # NX: a revocation that already landed wins over the login that made it.
                pipe.set(session_key(sid), LIVE, nx=True, ex=settings.session_cache_seconds)
            if user is not None:
                user_id, suspended, language = user
                if suspended:
                    pipe.set(user_key(user_id), USER_SUSPENDED, ex=dead_ttl)
                else:  # a SET, not a DEL: a fill that read the suspension cannot come back
                    pipe.set(
                        user_key(user_id), _user_ok(language), ex=settings.session_cache_seconds
                    )
            await pipe.execute()
    except _REDIS_FAILURES as exc:
        # Checks keep answering from what is cached until it expires (session_cache_seconds).
        log.error("session_publish_failed", error=repr(exc)[:200])


def after_commit(
    session: PrimarySession,
    redis: aioredis.Redis,
    settings: AuthSettings,
    *,
    revoked: Iterable[uuid.UUID] = (),
    live: Iterable[uuid.UUID] = (),
    user: tuple[uuid.UUID, bool, str] | None = None,
) -> None:
    """Register `publish` to run once `session` commits (never if it rolls back)."""
    revoked, live = list(revoked), list(live)

    async def _publish() -> None:
        await publish(redis, settings, revoked=revoked, live=live, user=user)

    on_commit(session, _publish)


# A new language for a user whose cached value says "ok" (keeping its expiry); a suspension
# ("s") stays, and nothing cached means the next check reads the database anyway.
_SET_LANGUAGE = """
local value = redis.call('GET', KEYS[1])
if value and string.sub(value, 1, 2) == 'ok' then
  return redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
end
return false
"""


def language_after_commit(
    session: PrimarySession, redis: aioredis.Redis, user_id: uuid.UUID, language: str
) -> None:
    """Once `session` commits: the user's new language holds for their next request, on
    every instance (the session check reads it, see the module)."""

    async def _publish() -> None:
        try:
            await redis.eval(_SET_LANGUAGE, 1, user_key(user_id), _user_ok(language))
        except _REDIS_FAILURES as exc:  # the cached value expires within session_cache_seconds
            log.warning("language_publish_failed", error=repr(exc)[:200])

    on_commit(session, _publish)
