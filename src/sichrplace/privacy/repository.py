"""Privacy SQL: the audit trail. The data itself is read and changed through the owning
domains' repositories."""

from __future__ import annotations

import uuid
from typing import Literal

from sqlalchemy import insert

from sichrplace.platform.db.sessions import PrimarySession
from sichrplace.privacy.models import PrivacyAudit

Action = Literal["export", "delete"]


async def audit(
    session: PrimarySession,
    user_id: uuid.UUID,
    action: Action,
    *,
    ip: str | None,
    user_agent: str | None,
) -> None:
    await session.execute(
        insert(PrivacyAudit).values(user_id=user_id, action=action, ip=ip, user_agent=user_agent)
    )
