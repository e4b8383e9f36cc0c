"""Email verification and password reset, end to end through the real mails (worker + sink)."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import timedelta
from email.message import EmailMessage

import httpx
from sqlalchemy import update

from sichrplace.accounts.models import AccountToken, User
from sichrplace.config import Settings
from sichrplace.kit.clock import utcnow
from sichrplace.platform.db.engines import Database
from tests.accounts.conftest import (
    API,
    Account,
    MakeClient,
    bearer,
    login,
    random_ip,
    register,
    strong_password,
)
from tests.helpers.mailbox import mails_to, wait_for_mail

# Accounts are German unless registered with an English Accept-Language.
VERIFY_SUBJECT = "Bestätigen Sie Ihre E-Mail-Adresse"
RESET_SUBJECT = "SichrPlace-Passwort zurück"


def link_token(mail: EmailMessage, path: str) -> str:
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    match = re.search(rf"/{path}\?token=([A-Za-z0-9_-]+)", text)
    assert match, text
    token = match.group(1)
    assert f": {token}\n" in text  # the bare token is in the body too (the code to enter)
    return token


async def verify(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(f"{API}/auth/verify-email", json={"token": token})


async def test_registration_mails_a_link_that_verifies_the_email_once(
    ip_client: httpx.AsyncClient,
) -> None:
    account = await register(ip_client)
    mail = await wait_for_mail(account.email, subject_contains=VERIFY_SUBJECT)
    token = link_token(mail, "verify-email")

    r = await verify(ip_client, token)
    assert r.status_code == 200, r.text
    assert r.json()["email_verified"] is True
    access = (await login(ip_client, account))["access_token"]
    me = await ip_client.get(f"{API}/me", headers=bearer(access))
    assert me.json()["email_verified"] is True

    again = await verify(ip_client, token)
    assert again.status_code == 422
    assert [e["field"] for e in again.json()["errors"]] == ["token"]


async def test_unknown_or_expired_verification_token_is_422(
    ip_client: httpx.AsyncClient, db: Database
) -> None:
    assert (await verify(ip_client, "made-up-token")).status_code == 422
    account = await register(ip_client)
    token = link_token(
        await wait_for_mail(account.email, subject_contains=VERIFY_SUBJECT), "verify-email"
    )
    async with db.sessionmaker() as s:
        await s.execute(
            update(AccountToken)
            .where(AccountToken.user_id == uuid.UUID(account.id))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await s.commit()
    r = await verify(ip_client, token)
    assert r.status_code == 422
    assert r.json()["type"].endswith("/invalid-one-time-token")


async def request_reset(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post(f"{API}/auth/password-reset/request", json={"email": email})


async def confirm(client: httpx.AsyncClient, token: str, password: str) -> httpx.Response:
    return await client.post(
        f"{API}/auth/password-reset/confirm", json={"token": token, "password": password}
    )


async def test_password_reset_flow(ip_client: httpx.AsyncClient) -> None:
    account = await register(ip_client)
    old_session = await login(ip_client, account)
    r = await request_reset(ip_client, account.email.upper())
    assert r.status_code == 202
    token = link_token(
        await wait_for_mail(account.email, subject_contains=RESET_SUBJECT), "reset-password"
    )

    weak = await confirm(ip_client, token, "qwertyuiop")
    assert weak.status_code == 422
    assert [e["field"] for e in weak.json()["errors"]] == ["password"]

    new_password = strong_password()
    assert (await confirm(ip_client, token, new_password)).status_code == 204
    # The token worked once; the old password and every old session are dead.
    reused = await confirm(ip_client, token, strong_password())
    assert reused.status_code == 422
    assert [e["field"] for e in reused.json()["errors"]] == ["token"]
    old = await ip_client.post(
        f"{API}/auth/login", json={"email": account.email, "password": account.password}
    )
    assert old.status_code == 401
    stale = await ip_client.post(
        f"{API}/auth/refresh", json={"refresh_token": old_session["refresh_token"]}
    )
    assert stale.status_code == 401
    await login(ip_client, Account(account.id, account.email, new_password, account.role))


async def test_reset_request_answers_202_alike_for_unknown_email(
    ip_client: httpx.AsyncClient,
) -> None:
    known = await register(ip_client)
    ghost = f"ghost-{uuid.uuid4().hex[:12]}@example.com"
    a = await request_reset(ip_client, known.email)
    b = await request_reset(ip_client, ghost)
    assert (a.status_code, a.json()) == (b.status_code, b.json())
    assert a.status_code == 202
    await wait_for_mail(known.email, subject_contains=RESET_SUBJECT)
    await asyncio.sleep(1.0)  # the known address's mail went through; none for the ghost
    assert mails_to(ghost) == []


async def test_reset_mails_are_capped_per_hour(
    ip_client: httpx.AsyncClient, settings: Settings
) -> None:
    account = await register(ip_client)
    cap = settings.auth.password_reset_mails_per_hour
    for _ in range(cap + 2):
        assert (await request_reset(ip_client, account.email)).status_code == 202

    def count() -> int:
        return len(mails_to(account.email, subject_contains=RESET_SUBJECT))

    for _ in range(150):  # wait for the allowed mails to arrive ...
        if count() >= cap:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.5)  # ... and give any extra one time to show up
    assert count() == cap


async def test_reset_lifts_the_login_lock(
    ip_client: httpx.AsyncClient, make_client: MakeClient, db: Database, settings: Settings
) -> None:
    """The account-wide lockout of untrusted clients (failures from many addresses) ends
    with a password reset."""
    account = await register(ip_client)
    for _ in range(settings.auth.login_max_untrusted_failures_per_account):
        async with make_client(random_ip()) as c:
            r = await c.post(
                f"{API}/auth/login", json={"email": account.email, "password": "wrong-password"}
            )
        assert r.status_code == 401
    async with make_client(random_ip()) as c:
        locked = await c.post(
            f"{API}/auth/login", json={"email": account.email, "password": account.password}
        )
    assert locked.status_code == 429
    await request_reset(ip_client, account.email)
    token = link_token(
        await wait_for_mail(account.email, subject_contains=RESET_SUBJECT), "reset-password"
    )
    new_password = strong_password()
    assert (await confirm(ip_client, token, new_password)).status_code == 204
    await login(ip_client, Account(account.id, account.email, new_password, account.role))
    async with db.sessionmaker() as s:
        changed = await s.get(User, uuid.UUID(account.id))
        assert changed is not None
        assert changed.password_changed_at > changed.created_at


def _text(mail: EmailMessage) -> str:
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    text: str = body.get_content()
    return text


async def test_account_mails_are_in_the_accounts_language(ip_client: httpx.AsyncClient) -> None:
    """German by default, English for an account registered in English; one language each."""
    german = await register(ip_client, accept_language="fr, de;q=0.5")
    english = await register(ip_client, accept_language="en-GB,en;q=0.9,de;q=0.5")
    mail = await wait_for_mail(german.email, subject_contains=VERIFY_SUBJECT)
    text = _text(mail)
    assert text.startswith("Hallo Erika Mustermann,")
    assert "willkommen bei SichrPlace" in text
    assert "welcome" not in text
    assert "Der Link ist 48 Stunden gültig." in text
    mail = await wait_for_mail(english.email, subject_contains="Confirm your SichrPlace email")
    text = _text(mail)
    assert text.startswith("Hello Erika Mustermann,")
    assert "welcome to SichrPlace" in text
    assert "willkommen" not in text

    for account in (german, english):
        assert (await request_reset(ip_client, account.email)).status_code == 202
    text = _text(await wait_for_mail(german.email, subject_contains=RESET_SUBJECT))
    assert "hoffentlich Sie" in text
    assert "Minuten gültig" in text
    text = _text(await wait_for_mail(english.email, subject_contains="Reset your SichrPlace"))
    assert "hopefully you" in text
    assert "minutes and works once" in text
    assert "Hallo" not in text
