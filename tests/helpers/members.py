"""Test users inserted directly, with a real signed access token (no password hashing or
login throttling on this path): for tests whose subject is not the accounts flow."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, update

from sichrplace.accounts.models import RefreshTokenFamily, User
from sichrplace.accounts.security import build_auth_runtime
from sichrplace.config import Settings
from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database


@dataclass(frozen=True)
class Member:
    id: uuid.UUID
    role: str
    email: str
    headers: dict[str, str]


async def create_member(
    db: Database, settings: Settings, role: str, *, label: str, language: str = "de"
) -> Member:
    """A user with `role` (and `language`), its email tagged with `label`, and Bearer headers
    for it."""
    user_id, session_id = uuid.uuid4(), uuid.uuid4()
    email = f"{label}-{user_id.hex[:12]}@example.com"
    async with transaction(db) as session:
        await session.execute(
            insert(User).values(
                id=user_id,
                email=email,
                password_hash="not-a-real-hash",
                full_name=f"{label.title()} Test",
                role=role,
                language=language,
            )
        )
        # Access tokens are refused unless their session (a refresh-token family) is live.
        await session.execute(insert(RefreshTokenFamily).values(id=session_id, user_id=user_id))
    token = build_auth_runtime(settings).access_tokens.issue(
        user_id=user_id, email=email, role=role, session_id=session_id, now=datetime.now(UTC)
    )
    return Member(user_id, role, email, {"Authorization": f"Bearer {token}"})


async def set_language(db: Database, user_id: uuid.UUID | str, language: str) -> None:
    """Store a user's language (as `PATCH /me` does), e.g. to check the mails they get."""
    async with transaction(db) as session:
        await session.execute(
            update(User).where(User.id == uuid.UUID(str(user_id))).values(language=language)
        )
