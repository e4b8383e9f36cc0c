"""The synthetic cast's SQL: its accounts (reserved ids), their sessions, the landlord's
listing. Everything else the journeys do goes through the public API."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from sichrplace.platform.db import PrimarySession

_ENSURE_USER = text(
    "INSERT INTO users (id, email, password_hash, full_name, role, email_verified_at, language) "
    "VALUES (:id, :email, :hash, :name, :role, now(), 'de') "
    "ON CONFLICT (id) DO NOTHING"
)
# The newest live session (a refresh-token family) of the user, if any.
_LIVE_SESSION = text(
    "SELECT id FROM refresh_token_families WHERE user_id = :user_id AND revoked_at IS NULL "
    "AND created_at > now() - make_interval(secs => :max_age) "
    "ORDER BY created_at DESC LIMIT 1"
)
_NEW_SESSION = text("INSERT INTO refresh_token_families (id, user_id) VALUES (:id, :user_id)")
_LISTING = text(
    "SELECT id FROM listings WHERE owner_id = :owner_id AND status = 'active' "
    "ORDER BY created_at, id LIMIT 1"
)


async def ensure_user(
    session: PrimarySession, *, user_id: uuid.UUID, email: str, role: str, name: str, hash_: str
) -> None:
    await session.execute(
        _ENSURE_USER,
        {"id": user_id, "email": email, "hash": hash_, "name": name, "role": role},
    )


async def live_session(
    session: PrimarySession, user_id: uuid.UUID, max_age_seconds: float
) -> uuid.UUID | None:
    found = (
        await session.execute(_LIVE_SESSION, {"user_id": user_id, "max_age": max_age_seconds})
    ).scalar_one_or_none()
    return found if isinstance(found, uuid.UUID) else None


async def new_session(session: PrimarySession, user_id: uuid.UUID) -> uuid.UUID:
    family = uuid.uuid4()
    await session.execute(_NEW_SESSION, {"id": family, "user_id": user_id})
    return family


async def listing_of(session: PrimarySession, owner_id: uuid.UUID) -> uuid.UUID | None:
    found = (await session.execute(_LISTING, {"owner_id": owner_id})).scalar_one_or_none()
    return found if isinstance(found, uuid.UUID) else None
