"""Privacy use cases: the caller's data export and the deletion (anonymisation) of their
account. Each reads and changes data through the owning domain's repository or service;
both write a `privacy_audit` row in the same transaction. Services never commit."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis

from sichrplace.accounts import repository as accounts_repo
from sichrplace.accounts import rules as accounts_rules
from sichrplace.accounts import service as accounts_service
from sichrplace.accounts.security import AuthRuntime
from sichrplace.accounts.throttle import login_throttle
from sichrplace.config import ViewingsSettings
from sichrplace.contracts import repository as contracts_repo
from sichrplace.kit.errors import TooManyRequests
from sichrplace.kit.i18n import N_
from sichrplace.listings import repository as listings_repo
from sichrplace.listings import service as listings_service
from sichrplace.listings.invalidation import ReadPath
from sichrplace.listings.rules import Caller
from sichrplace.messaging import repository as messaging_repo
from sichrplace.payments import repository as payments_repo
from sichrplace.payments.parts import PaymentsParts
from sichrplace.platform.db.sessions import PrimarySession
from sichrplace.privacy import repository, rules
from sichrplace.privacy.errors import AccountNotDeletable, WrongPassword
from sichrplace.viewings import repository as viewings_repo
from sichrplace.viewings import service as viewings_service


async def export(
    session: PrimarySession,
    user_id: uuid.UUID,
    *,
    ip: str | None,
    user_agent: str | None,
    now: datetime,
) -> dict[str, Any]:
    """Everything stored about the caller, one section per kind; nobody else's data beyond
    what is part of the caller's own dealings (the other party's messages and names)."""
    profile = await accounts_repo.export_profile(session, user_id)
    feed = await viewings_repo.export_feed(session, user_id)
    document: dict[str, Any] = {
        "generated_at": now,
        "user_id": user_id,
        "profile": profile,
        "sessions": await accounts_repo.export_sessions(session, user_id),
        "listings": await listings_repo.export_owned(session, user_id),
        "viewings": await viewings_repo.export_viewings(session, user_id),
        "payments": await payments_repo.export_payments(session, user_id),
        "ledger_entries": await payments_repo.export_ledger(session, user_id),
        "contracts": await contracts_repo.export_contracts(session, user_id),
        "conversations": await messaging_repo.export_conversations(session, user_id),
        "calendar_feed": {
            "exists": feed is not None and feed["revoked_at"] is None,
            **(feed or {}),
        },
        "retention": rules.retention(),
    }
    await repository.audit(session, user_id, "export", ip=ip, user_agent=user_agent)
    return document


async def delete_account(
    session: PrimarySession,
    auth: AuthRuntime,
    redis: aioredis.Redis,
    payments: PaymentsParts,
    read_path: ReadPath,
    caller: Caller,
    *,
    password: str,
    ip: str,
    user_agent: str | None,
    viewings_settings: ViewingsSettings,
    now: datetime,
) -> None:
    """Anonymise the caller's account after checking the password (with the login's growing
    delays per account and address, as a password change does). In one transaction: the
    bookings ahead are cancelled through viewings (slots free, paid ones refunded), the
    listings archived, every session and the calendar feed revoked, the person's row
    anonymised. Messages, payments, ledger entries and contracts stay (docs/operations.md).
    A contract still awaiting signatures or the caller's deposit refuses the deletion (409)."""
    user = await accounts_repo.lock_live_user(session, caller.id)
    if user is None:
        raise WrongPassword()
    delays = login_throttle(redis, auth.settings).per_account_ip
    pair = f"{accounts_rules.throttle_subject(user.email)}:{ip}"
    wait = (await delays.check(pair)).retry_after
    if wait:
        raise TooManyRequests(wait, N_("Too many wrong passwords; try again later."))
    if not await auth.passwords.verify(user.password_hash, password):
        await delays.fail(pair)
        raise WrongPassword()
    open_contracts = await contracts_repo.open_obligations_of(session, user.id)
    if open_contracts:
        raise AccountNotDeletable(open_contracts)
    for viewing_id in await viewings_repo.open_viewings_of(session, user.id, now=now):
        await viewings_service.cancel(
            session,
            payments,
            caller,
            viewing_id,
            redis=redis,
            settings=viewings_settings,
            now=now,
        )
    for listing_id in await listings_repo.unarchived_of(session, user.id):
        await listings_service.archive_listing(session, caller, listing_id, read_path=read_path)
    await viewings_repo.revoke_feed(session, user.id, now=now)
    await accounts_service.end_sessions(session, redis, auth.settings, user.id, "account_deleted")
    await accounts_repo.anonymise_user(
        session,
        user.id,
        email=rules.deleted_email(user.id),
        full_name=rules.DELETED_NAME,
        password_hash=rules.UNUSABLE_PASSWORD,
        now=now,
    )
    await repository.audit(session, user.id, "delete", ip=ip, user_agent=user_agent)
