"""The journeys, through the public entry point as a client does them (httpx), each step
timed; each journey registers how to undo what it made, and the runner undoes it whatever
happened (`run_journey`).

What stays after a run, and why: the payment journey's viewing is cancelled (its fee
refunded) and its slot deleted, so the listing holds no free slot and nothing live; the
viewing, payment, refund and ledger rows stay, as the booking benchmark keeps them: they are
money records, reconciliation compares them with the provider, and the ledger stays balanced
(charge + refund = 0). The contract journey's contract stays: a signed contract and its audit
trail are append-only by design (triggers refuse deletes), so a monitor cannot remove it;
that is one small row set and one PDF per run (about 300 a day at the 5-minute schedule).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from sichrplace.ops.synthetic.accounts import Cast
from sichrplace.ops.synthetic.records import JourneyResult, StepResult
from sichrplace.ops.synthetic.settings import SyntheticSettings

API = "/api/v1"
SLOT_MINUTES = 15
# Slots two weeks ahead and later, spread over 120 days of quarter hours so two runs at once
# (the schedule and a run by hand) do not pick the same one; within the API's horizon
# (SICHRPLACE_VIEWINGS_MAX_DAYS_AHEAD, 180 days).
SLOT_FIRST_DAY = 14
SLOT_QUARTERS = 4 * 24 * 120

Cleanup = Callable[[], Awaitable[None]]


class JourneyError(Exception):
    """A step got an answer a client would not accept."""


@dataclass
class Run:
    """One journey's steps as they happen, and what to undo afterwards."""

    journey: str
    steps: list[StepResult] = field(default_factory=list)
    cleanups: list[Cleanup] = field(default_factory=list)

    @asynccontextmanager
    async def step(self, name: str) -> AsyncIterator[None]:
        started = time.perf_counter()
        try:
            yield
        except BaseException:
            self.steps.append(StepResult(name, False, time.perf_counter() - started))
            raise
        self.steps.append(StepResult(name, True, time.perf_counter() - started))


def expect(resp: httpx.Response, *codes: int) -> dict[str, Any]:
    """The JSON body when the status is one of `codes`, else a JourneyError naming it."""
    if resp.status_code not in codes:
        title = ""
        if resp.headers.get("content-type", "").startswith("application/problem+json"):
            problem = resp.json()
            fields = "; ".join(
                f"{e.get('field')}: {e.get('message')}" for e in problem.get("errors") or []
            )
            title = f": {problem.get('title', '')}" + (f" ({fields})" if fields else "")
        raise JourneyError(
            f"{resp.request.method} {resp.request.url.path} answered {resp.status_code}{title}"
        )
    if resp.status_code == 204 or not resp.content:
        return {}
    body: dict[str, Any] = resp.json()
    return body


async def search(http: httpx.AsyncClient, cast: Cast, cfg: SyntheticSettings, run: Run) -> None:
    """Search a seeded city as anyone does (anonymous), then open the first listing found."""
    marked = {"X-Synthetic": "1"}
    async with run.step("search"):
        page = expect(
            await http.get(
                f"{API}/search/listings",
                params={"city": cfg.search_city, "limit": 20},
                headers=marked,
            ),
            200,
        )
        items = page.get("items") or []
        if not items:
            raise JourneyError(f"no listing found in {cfg.search_city}")
    async with run.step("listing"):
        detail = expect(await http.get(f"{API}/listings/{items[0]['id']}", headers=marked), 200)
        if detail.get("id") != items[0]["id"]:
            raise JourneyError("the listing opened is not the one found")


def slot_start(now: datetime) -> datetime:
    """A quarter hour between 14 and 134 days ahead (chosen at random)."""
    base = (now + timedelta(days=SLOT_FIRST_DAY)).replace(second=0, microsecond=0)
    base -= timedelta(minutes=base.minute % SLOT_MINUTES)
    return base + timedelta(minutes=SLOT_MINUTES * (uuid.uuid4().int % SLOT_QUARTERS))


def approval_target(approval_url: str) -> tuple[str, str]:
    """(provider origin, payment ref) of the fake provider's checkout URL `.../checkout/<ref>`."""
    parts = urlsplit(approval_url)
    ref = parts.path.rstrip("/").rsplit("/", 1)[-1]
    if not ref or "/checkout/" not in parts.path:
        raise JourneyError(f"not a checkout URL of the fake provider: {approval_url}")
    return f"{parts.scheme}://{parts.netloc}", ref


async def payment(http: httpx.AsyncClient, cast: Cast, cfg: SyntheticSettings, run: Run) -> None:
    """The landlord offers a slot; the tenant books it, starts the fee's payment, pays at the
    (fake) provider; the provider's webhook confirms the viewing."""
    tenant, landlord, listing = cast.tenant.headers, cast.landlord.headers, cast.listing_id
    async with run.step("slot"):
        starts = slot_start(datetime.now(UTC))
        slot = expect(
            await http.post(
                f"{API}/listings/{listing}/slots",
                json={
                    "starts_at": starts.isoformat(),
                    "ends_at": (starts + timedelta(minutes=SLOT_MINUTES)).isoformat(),
                },
                headers=landlord,
            ),
            201,
        )

    async def delete_slot() -> None:
        expect(
            await http.delete(f"{API}/listings/{listing}/slots/{slot['id']}", headers=landlord),
            204,
            404,
        )

    run.cleanups.append(delete_slot)
    async with run.step("book"):
        viewing = expect(
            await http.post(
                f"{API}/viewings",
                json={"slot_id": slot["id"]},
                headers={**tenant, "Idempotency-Key": str(uuid.uuid4())},
            ),
            201,
        )

    async def cancel() -> None:
        # Confirmed: cancelled and refunded; still pending: cancelled (409: it ended already).
        expect(await http.post(f"{API}/viewings/{viewing['id']}/cancel", headers=tenant), 200, 409)

    run.cleanups.append(cancel)
    async with run.step("intent"):
        intent = expect(
            await http.post(
                f"{API}/payments/intents",
                json={"purpose": "viewing_fee", "viewing_id": viewing["id"]},
                headers={**tenant, "Idempotency-Key": str(uuid.uuid4())},
            ),
            200,
            201,
        )
        if not intent.get("approval_url"):
            raise JourneyError(f"the intent has no approval URL (status {intent.get('status')})")
    async with run.step("approve"):
        origin, ref = approval_target(intent["approval_url"])
        expect(await http.post(f"{origin}/_fake/approve/{ref}"), 200)
    async with run.step("confirm"):
        deadline = time.monotonic() + cfg.confirm_timeout_seconds
        while True:
            seen = expect(await http.get(f"{API}/viewings/{viewing['id']}", headers=tenant), 200)
            if seen.get("status") == "confirmed":
                break
            if time.monotonic() > deadline:
                raise JourneyError(
                    f"viewing not confirmed within {cfg.confirm_timeout_seconds:g} s "
                    f"(status {seen.get('status')})"
                )
            await asyncio.sleep(0.25)


async def contract(http: httpx.AsyncClient, cast: Cast, cfg: SyntheticSettings, run: Run) -> None:
    """The landlord drafts a lease for the listing and the tenant, sends it; both sign."""
    tenant, landlord = cast.tenant, cast.landlord
    async with run.step("create"):
        start = date.today() + timedelta(days=60)
        made = expect(
            await http.post(
                f"{API}/contracts",
                json={
                    "listing_id": str(cast.listing_id),
                    "tenant_id": str(tenant.person.id),
                    "start_date": start.isoformat(),
                    "cold_rent_cents": 80_000,
                    "utilities_cents": 20_000,
                    "deposit_cents": 160_000,
                },
                headers=landlord.headers,
            ),
            201,
        )
    async with run.step("send"):
        sent = expect(
            await http.post(f"{API}/contracts/{made['id']}/send", headers=landlord.headers), 200
        )
    status = ""
    for step, member in (("tenant_sign", tenant), ("landlord_sign", landlord)):
        async with run.step(step):
            signed = expect(
                await http.post(
                    f"{API}/contracts/{made['id']}/sign",
                    json={
                        "full_name": member.person.name,
                        "accept": True,
                        "document_sha256": sent["document_sha256"],
                    },
                    headers=member.headers,
                ),
                200,
            )
            status = str(signed.get("status"))
    if status != "fully_signed":
        raise JourneyError(f"the contract ended {status}, not fully_signed")


Journey = Callable[[httpx.AsyncClient, Cast, SyntheticSettings, Run], Awaitable[None]]
JOURNEYS: dict[str, Journey] = {"search": search, "payment": payment, "contract": contract}


def describe(exc: BaseException) -> str:
    if isinstance(exc, JourneyError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


async def run_journey(
    name: str, http: httpx.AsyncClient, cast: Cast, cfg: SyntheticSettings
) -> JourneyResult:
    """Run one journey and undo what it made (newest first); never raises for the journey's
    own failures: they are the result."""
    run = Run(name)
    started = time.time()
    error: str | None = None
    try:
        await JOURNEYS[name](http, cast, cfg, run)
    except (JourneyError, httpx.HTTPError, ValueError, KeyError) as exc:
        error = describe(exc)
    finished = time.time()
    cleanup_error: str | None = None
    for undo in reversed(run.cleanups):
        try:
            await undo()
        except (JourneyError, httpx.HTTPError, ValueError, KeyError) as exc:
            cleanup_error = cleanup_error or describe(exc)
    return JourneyResult(name, started, finished, tuple(run.steps), error, cleanup_error)
