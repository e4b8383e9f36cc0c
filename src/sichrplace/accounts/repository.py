"""All accounts SQL; rows come back as the typed records of `accounts.records`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Row, and_, func, select, text, update
from sqlalchemy.dialects.postgresql import insert

from sichrplace.accounts.models import (
    AccountToken,
    RefreshToken,
    RefreshTokenFamily,
    Role,
    TokenPurpose,
    User,
)
from sichrplace.accounts.records import (
    AccountTokenRow,
    ProfileSettingsRow,
    RefreshTokenRow,
    SessionStateRow,
    UserRow,
)
from sichrplace.platform.db import PrimarySession

# --- users ------------------------------------------------------------------------------------

_USER_COLUMNS = (
    User.id,
    User.email,
    User.password_hash,
    User.full_name,
    User.role,
    User.email_verified_at,
    User.password_changed_at,
    User.suspended_at,
    User.created_at,
    User.updated_at,
    User.language,
)


def _user(row: Row[*tuple[Any, ...]] | None) -> UserRow | None:
    if row is None:
        return None
    values = row._asdict()
    return UserRow(**{**values, "role": Role(values["role"])})


async def insert_user(
    session: PrimarySession,
    *,
    email: str,
    password_hash: str,
    full_name: str,
    role: str,
    language: str = "de",
) -> UserRow | None:
    """Insert a user; None if the email (case-insensitive) is taken, also by a concurrent insert."""
    stmt = (
        insert(User)
        .values(
            id=uuid.uuid4(),
            email=email,
            password_hash=password_hash,
            full_name=full_name,
            role=role,
            language=language,
        )
        .on_conflict_do_nothing(index_elements=[User.email])
        .returning(*_USER_COLUMNS)
    )
    return _user((await session.execute(stmt)).one_or_none())


async def get_user(session: PrimarySession, user_id: uuid.UUID) -> UserRow | None:
    stmt = select(*_USER_COLUMNS).where(User.id == user_id)
    return _user((await session.execute(stmt)).one_or_none())


async def get_user_by_email(session: PrimarySession, email: str) -> UserRow | None:
    # citext: the comparison is case-insensitive and uses the unique index.
    stmt = select(*_USER_COLUMNS).where(User.email == email)
    return _user((await session.execute(stmt)).one_or_none())


async def set_password_hash(
    session: PrimarySession, user_id: uuid.UUID, password_hash: str, *, changed: bool
) -> None:
    values: dict[str, object] = {"password_hash": password_hash, "updated_at": func.now()}
    if changed:
        values["password_changed_at"] = func.now()
    await session.execute(update(User).where(User.id == user_id).values(**values))


async def mark_email_verified(session: PrimarySession, user_id: uuid.UUID) -> None:
    await session.execute(
        update(User)
        .where(User.id == user_id, User.email_verified_at.is_(None))
        .values(email_verified_at=func.now(), updated_at=func.now())
    )


async def set_role(session: PrimarySession, user_id: uuid.UUID, role: str) -> None:
    await session.execute(
        update(User).where(User.id == user_id).values(role=role, updated_at=func.now())
    )


async def set_suspended(session: PrimarySession, user_id: uuid.UUID, *, suspended: bool) -> bool:
    """Suspend or lift a suspension; False if the user does not exist."""
    stmt = (
        update(User)
        .where(User.id == user_id)
        .values(suspended_at=func.now() if suspended else None, updated_at=func.now())
        .returning(User.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def session_state(
    session: PrimarySession, user_id: uuid.UUID, session_id: uuid.UUID
) -> SessionStateRow | None:
    """Is the access token's session live and its user not suspended? None: no such user."""
    f = RefreshTokenFamily
    stmt = (
        select(
            and_(f.id.is_not(None), f.revoked_at.is_(None)).label("session_live"),
            User.suspended_at.is_not(None).label("suspended"),
            User.language,
        )
        .select_from(User)
        .outerjoin(f, and_(f.id == session_id, f.user_id == User.id))
        .where(User.id == user_id)
    )
    row = (await session.execute(stmt)).one_or_none()
    if row is None:
        return None
    return SessionStateRow(bool(row.session_live), bool(row.suspended), row.language)


# --- refresh-token families -------------------------------------------------------------------


async def insert_family(session: PrimarySession, user_id: uuid.UUID) -> uuid.UUID:
    family_id = uuid.uuid4()
    await session.execute(insert(RefreshTokenFamily).values(id=family_id, user_id=user_id))
    return family_id


async def insert_refresh_token(
    session: PrimarySession, family_id: uuid.UUID, digest: bytes, expires_at: datetime
) -> None:
    await session.execute(
        insert(RefreshToken).values(
            id=uuid.uuid4(), family_id=family_id, token_hash=digest, expires_at=expires_at
        )
    )


async def lock_refresh_token(session: PrimarySession, digest: bytes) -> RefreshTokenRow | None:
    """Fetch a refresh token and its family, row-locked until commit.

    Two concurrent refreshes (or a refresh and a revocation) of one family queue up here, so a
    token can be rotated only once.
    """
    t, f = RefreshToken, RefreshTokenFamily
    stmt = (
        select(t.id, t.family_id, f.user_id, t.expires_at, t.used_at, f.created_at, f.revoked_at)
        .join(f, f.id == t.family_id)
        .where(t.token_hash == digest)
        .with_for_update(of=[t, f])
    )
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else RefreshTokenRow(*row)


async def mark_refresh_token_used(
    session: PrimarySession, token_id: uuid.UUID, now: datetime
) -> None:
    await session.execute(
        update(RefreshToken).where(RefreshToken.id == token_id).values(used_at=now)
    )


async def revoke_family(
    session: PrimarySession, family_id: uuid.UUID, reason: str, *, user_id: uuid.UUID | None = None
) -> None:
    f = RefreshTokenFamily
    stmt = update(f).where(f.id == family_id, f.revoked_at.is_(None))
    if user_id is not None:
        stmt = stmt.where(f.user_id == user_id)
    await session.execute(stmt.values(revoked_at=func.now(), revoked_reason=reason))


async def revoke_all_families(
    session: PrimarySession, user_id: uuid.UUID, reason: str, *, keep: uuid.UUID | None = None
) -> list[uuid.UUID]:
    """Revoke every live session of the user (but `keep`); the ids of those revoked."""
    f = RefreshTokenFamily
    stmt = update(f).where(f.user_id == user_id, f.revoked_at.is_(None))
    if keep is not None:
        stmt = stmt.where(f.id != keep)
    stmt = stmt.values(revoked_at=func.now(), revoked_reason=reason).returning(f.id)
    return list((await session.execute(stmt)).scalars())


# --- single-use emailed tokens ----------------------------------------------------------------


async def insert_account_token(
    session: PrimarySession,
    user_id: uuid.UUID,
    purpose: TokenPurpose,
    digest: bytes,
    expires_at: datetime,
) -> uuid.UUID:
    token_id = uuid.uuid4()
    await session.execute(
        insert(AccountToken).values(
            id=token_id,
            user_id=user_id,
            purpose=purpose.value,
            token_hash=digest,
            expires_at=expires_at,
        )
    )
    return token_id


async def lock_account_token(
    session: PrimarySession, digest: bytes, purpose: TokenPurpose
) -> AccountTokenRow | None:
    t = AccountToken
    stmt = (
        select(t.id, t.user_id, t.expires_at, t.used_at)
        .where(t.token_hash == digest, t.purpose == purpose.value)
        .with_for_update()
    )
    row = (await session.execute(stmt)).one_or_none()
    if row is None:
        return None
    return AccountTokenRow(row.id, row.user_id, purpose, row.expires_at, row.used_at)


async def use_account_tokens(
    session: PrimarySession, user_id: uuid.UUID, purpose: TokenPurpose, now: datetime
) -> None:
    """Spend every open token of this purpose for the user (the presented one included)."""
    await session.execute(
        update(AccountToken)
        .where(
            AccountToken.user_id == user_id,
            AccountToken.purpose == purpose.value,
            AccountToken.used_at.is_(None),
        )
        .values(used_at=now)
    )


# --- personal data (privacy: export and anonymisation) ----------------------------------------


async def export_profile(session: PrimarySession, user_id: uuid.UUID) -> dict[str, Any] | None:
    """The user's own row for a data export (no password hash)."""
    row = (
        await session.execute(
            text(
                "SELECT id, email, full_name, role, email_verified_at, password_changed_at, "
                "suspended_at, created_at, updated_at, deleted_at FROM users WHERE id = :uid"
            ),
            {"uid": user_id},
        )
    ).one_or_none()
    return None if row is None else dict(row._mapping)


async def export_sessions(session: PrimarySession, user_id: uuid.UUID) -> list[dict[str, Any]]:
    """The user's logins (refresh-token families): times only, never a token."""
    stmt = (
        select(
            RefreshTokenFamily.id,
            RefreshTokenFamily.created_at,
            RefreshTokenFamily.revoked_at,
            RefreshTokenFamily.revoked_reason,
        )
        .where(RefreshTokenFamily.user_id == user_id)
        .order_by(RefreshTokenFamily.created_at, RefreshTokenFamily.id)
    )
    return [dict(r._mapping) for r in await session.execute(stmt)]


async def lock_live_user(session: PrimarySession, user_id: uuid.UUID) -> UserRow | None:
    """The user, row-locked, unless the account was deleted (a second deletion waits, then
    finds it gone)."""
    ids = text("SELECT id FROM users WHERE id = :uid AND deleted_at IS NULL FOR UPDATE")
    if (await session.execute(ids, {"uid": user_id})).one_or_none() is None:
        return None
    return await get_user(session, user_id)


async def anonymise_user(
    session: PrimarySession,
    user_id: uuid.UUID,
    *,
    email: str,
    full_name: str,
    password_hash: str,
    now: datetime,
) -> None:
    """Overwrite what identifies the person; the row stays for the records that must be kept.
    Open emailed tokens (verification, reset) are spent."""
    await session.execute(
        text(
            "UPDATE users SET email = :email, full_name = :full_name, "
            "password_hash = :password_hash, email_verified_at = NULL, deleted_at = :now, "
            "updated_at = :now WHERE id = :uid"
        ),
        {
            "uid": user_id,
            "email": email,
            "full_name": full_name,
            "password_hash": password_hash,
            "now": now,
        },
    )
    await session.execute(
        update(AccountToken)
        .where(AccountToken.user_id == user_id, AccountToken.used_at.is_(None))
        .values(used_at=now)
    )


# --- profile settings (language, notification preferences) ------------------------------------


async def profile_settings(
    session: PrimarySession, user_id: uuid.UUID, *, lock: bool = False
) -> ProfileSettingsRow | None:
    """`lock`: under the user's row lock, so two PATCHes of different preferences both land."""
    sql = "SELECT language, notification_preferences FROM users WHERE id = :uid"
    row = (
        await session.execute(text(sql + (" FOR UPDATE" if lock else "")), {"uid": user_id})
    ).one_or_none()
    return (
        None
        if row is None
        else ProfileSettingsRow(row.language, dict(row.notification_preferences))
    )


async def lock_profile_settings(
    session: PrimarySession, user_id: uuid.UUID
) -> ProfileSettingsRow | None:
    return await profile_settings(session, user_id, lock=True)


async def update_profile(
    session: PrimarySession,
    user_id: uuid.UUID,
    *,
    full_name: str | None,
    language: str | None,
    notification_preferences: dict[str, Any] | None,
    now: datetime,
) -> None:
    """Set what is given (None: unchanged)."""
    await session.execute(
        text(
            "UPDATE users SET full_name = COALESCE(:full_name, full_name), "
            "language = COALESCE(:language, language), "
            "notification_preferences = COALESCE(CAST(:prefs AS jsonb), "
            "notification_preferences), updated_at = :now WHERE id = :uid"
        ),
        {
            "uid": user_id,
            "full_name": full_name,
            "language": language,
            "prefs": None
            if notification_preferences is None
            else orjson.dumps(notification_preferences).decode(),
            "now": now,
        },
    )
