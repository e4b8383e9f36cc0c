"""Device tokens (OWASP's device cookies): strangers' failed logins lock out untrusted clients,
never the owner's known device; a device token is throttled on its own; the owner is told
once per burst; the client address comes from the trusted proxy only."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import redis.asyncio as aioredis
from fastapi import FastAPI

from sichrplace.accounts import rules
from sichrplace.config import Settings
from sichrplace.platform.ratelimit import GrowingDelay
from tests.accounts.conftest import API, Account, MakeClient, bearer, random_ip, register
from tests.helpers.mailbox import mails_to, wait_for_mail

DEVICE_HEADER = "X-Device-Token"


async def attempt(
    client: httpx.AsyncClient, email: str, password: str, device: str | None = None
) -> httpx.Response:
    headers = {DEVICE_HEADER: device} if device else {}
    return await client.post(
        f"{API}/auth/login", json={"email": email, "password": password}, headers=headers
    )


async def device_token(make_client: MakeClient, account: Account) -> str:
    """Log in once from a new device; the device token it gets back."""
    async with make_client(random_ip()) as c:
        r = await attempt(c, account.email, account.password)
    assert r.status_code == 200, r.text
    token: str = r.json()["device_token"]
    assert token
    assert r.cookies.get("sp_device") == token
    return token


async def spray(make_client: MakeClient, email: str, count: int) -> list[int]:
    """`count` wrong passwords for `email`, each from an address of its own, 10 at a time."""
    codes: list[int] = []

    async def one() -> int:
        async with make_client(random_ip()) as c:
            return (await attempt(c, email, f"guess-{uuid.uuid4().hex[:8]}")).status_code

    for start in range(0, count, 10):
        codes += await asyncio.gather(*(one() for _ in range(min(10, count - start))))
    return codes


async def test_an_attacker_locks_out_strangers_but_not_the_owners_known_device(
    make_client: MakeClient, ip_client: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await register(ip_client)
    known = await device_token(make_client, owner)

    codes = await spray(make_client, owner.email, 100)
    limit = settings.auth.login_max_untrusted_failures_per_account
    assert codes.count(401) == limit, codes
    assert codes.count(429) == 100 - limit, codes

    # A new device is refused during the lockout, even with the right password ...
    async with make_client(random_ip()) as stranger:
        refused = await attempt(stranger, owner.email, owner.password)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    # ... while the owner's device that logged in before still gets in, by header ...
    async with make_client(random_ip()) as device:
        r = await attempt(device, owner.email, owner.password, device=known)
        assert r.status_code == 200, r.text
        assert (await device.get(f"{API}/me", headers=bearer(r.json()["access_token"]))).is_success
    # ... or by its cookie (a browser): the new device token it got is as good.
    async with make_client(random_ip()) as browser:
        browser.cookies.set("sp_device", r.json()["device_token"], path="/api/v1/auth")
        assert (await attempt(browser, owner.email, owner.password)).status_code == 200


async def test_concurrent_guesses_cannot_slip_past_the_lockout(
    make_client: MakeClient, ip_client: httpx.AsyncClient, settings: Settings
) -> None:
    """30 wrong passwords at once, each from its own address: the lockout counts each attempt
    before its password is checked, so exactly the limit of them is checked."""
    owner = await register(ip_client)
    limit = settings.auth.login_max_untrusted_failures_per_account

    async def one() -> int:
        async with make_client(random_ip()) as c:
            return (await attempt(c, owner.email, f"guess-{uuid.uuid4().hex[:8]}")).status_code

    codes = await asyncio.gather(*(one() for _ in range(3 * limit)))
    assert sorted(codes) == [401] * limit + [429] * (2 * limit), codes


async def test_a_device_token_with_too_many_failures_is_locked_out_itself(
    make_client: MakeClient, ip_client: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await register(ip_client)
    stolen = await device_token(make_client, owner)
    limit = settings.auth.login_max_failures_per_device
    for _ in range(limit):
        async with make_client(random_ip()) as c:  # addresses do not matter for a device
            assert (
                await attempt(c, owner.email, "wrong-guess-1", device=stolen)
            ).status_code == 401
    async with make_client(random_ip()) as c:
        locked = await attempt(c, owner.email, owner.password, device=stolen)
    assert locked.status_code == 429
    assert 0 < int(locked.headers["retry-after"]) <= settings.auth.login_failure_window_seconds
    # Its failures were its own: other clients of the account are not locked out.
    async with make_client(random_ip()) as c:
        assert (await attempt(c, owner.email, owner.password)).status_code == 200


async def test_a_device_token_counts_only_for_its_own_account(
    make_client: MakeClient, ip_client: httpx.AsyncClient, settings: Settings
) -> None:
    owner, other = await register(ip_client), await register(ip_client)
    others_device = await device_token(make_client, other)
    await spray(make_client, owner.email, settings.auth.login_max_untrusted_failures_per_account)
    async with make_client(random_ip()) as c:
        r = await attempt(c, owner.email, owner.password, device=others_device)
        assert r.status_code == 429  # another account's device is a stranger here
        # Nor is a device token an access token (its own audience).
        assert (await c.get(f"{API}/me", headers=bearer(others_device))).status_code == 401


async def test_the_device_cookie_is_httponly_strict_and_secure_over_https(
    app: FastAPI, ip_client: httpx.AsyncClient
) -> None:
    account = await register(ip_client)
    body = {"email": account.email, "password": account.password}
    r = await ip_client.post(f"{API}/auth/login", json=body)
    cookie = r.headers["set-cookie"].lower()
    assert cookie.startswith("sp_device=")
    for part in ("httponly", "samesite=strict", "path=/api/v1/auth", "max-age="):
        assert part in cookie, cookie
    assert "secure" not in cookie  # plain http (the local stack)
    transport = httpx.ASGITransport(app=app, client=(random_ip(), 40000))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as tls:
        r = await tls.post(f"{API}/auth/login", json=body)
    assert "; secure" in r.headers["set-cookie"].lower()


async def test_a_burst_of_failures_mails_the_owner_once(
    make_client: MakeClient, ip_client: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await register(ip_client)
    known = await device_token(make_client, owner)
    await spray(make_client, owner.email, 40)  # locks out untrusted clients
    for _ in range(5):  # and more failures from a known device, in the same burst
        async with make_client(random_ip()) as c:
            assert (await attempt(c, owner.email, "wrong-guess-2", device=known)).status_code == 401
    mail = await wait_for_mail(owner.email, subject_contains="Anmeldeversuche")
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert text.startswith("Hallo Erika Mustermann")  # the account's language: German
    assert mail["Content-Language"] == "de"
    assert f"mindestens {settings.auth.login_burst_failures}" in text
    assert "Many failed" not in text + str(mail["Subject"])  # one language only
    await asyncio.sleep(2.0)  # time for any further mail to arrive
    assert len(mails_to(owner.email, subject_contains="Anmeldeversuche")) == 1


async def test_an_english_account_gets_the_burst_notice_in_english(
    make_client: MakeClient, ip_client: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await register(ip_client, accept_language="en")
    await spray(make_client, owner.email, settings.auth.login_burst_failures)
    mail = await wait_for_mail(owner.email, subject_contains="Many failed sign-in attempts")
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert text.startswith("Hello Erika Mustermann")
    assert mail["Content-Language"] == "en"
    assert f"at least {settings.auth.login_burst_failures} failed" in text
    assert "Hallo" not in text


async def test_fewer_failures_than_a_burst_send_no_mail(
    make_client: MakeClient, ip_client: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await register(ip_client)
    await spray(make_client, owner.email, settings.auth.login_burst_failures - 1)
    await asyncio.sleep(2.0)
    assert mails_to(owner.email, subject_contains="Anmeldeversuche") == []


async def test_the_client_address_cannot_be_chosen_by_the_client(
    stack_url: str, ip_client: httpx.AsyncClient, redis: aioredis.Redis, settings: Settings
) -> None:
    """Through nginx (which appends the address it saw to X-Forwarded-For) the API counts the
    failure against that address, not what the client wrote in front of it; straight at an
    API instance, X-Forwarded-For from anyone but the trusted proxy is ignored."""
    account = await register(ip_client)
    subject = rules.throttle_subject(account.email)

    def delay(name: str) -> GrowingDelay:
        return GrowingDelay(
            redis, name=name, free=1, base_seconds=1, max_delay_seconds=1, memory_seconds=1
        )

    pair, per_ip = delay("login-account-ip"), delay("login-ip")
    client_ip, spoofed = "127.0.0.2", "203.0.113.77"  # a loopback address nginx does not trust
    api = f"http://127.0.0.1:{settings.stack.api_base_port}"
    transport = httpx.AsyncHTTPTransport(local_address=client_ip)
    try:
        for base_url in (stack_url, api):
            async with httpx.AsyncClient(base_url=base_url, transport=transport) as c:
                r = await c.post(
                    f"{API}/auth/login",
                    json={"email": account.email, "password": "not-the-password"},
                    headers={"X-Forwarded-For": spoofed, "X-Real-IP": spoofed},
                )
            assert r.status_code == 401
        assert await redis.get(pair.keys(f"{subject}:{client_ip}")[0]) == b"2"
        assert await redis.exists(pair.keys(f"{subject}:{spoofed}")[0]) == 0
        assert await redis.exists(per_ip.keys(spoofed)[0]) == 0
    finally:  # the address is shared by every run: forget its failures
        await redis.delete(*per_ip.keys(client_ip))
