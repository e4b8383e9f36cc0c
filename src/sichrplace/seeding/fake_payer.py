"""The demo's payer at the stack's fake Stripe (`sichrplace.stack.fake_payments.stripe`): wait
for it, press "Bezahlen" for a payment, and hand back the fake's `payment_intent.succeeded`
event signed as the fake signs its webhooks, for the seed to apply through payments' own
webhook path (the API instances that would receive it are not running yet while `stack up`
seeds)."""

from __future__ import annotations

import asyncio
import time

import httpx
import orjson

from sichrplace.config import Settings
from sichrplace.integrations.payments import DEV_STRIPE_WEBHOOK_SECRET
from sichrplace.integrations.payments.stripe import WEBHOOK_SECRET_NAME, signature_header
from sichrplace.platform.secrets import provider_for

SUCCEEDED = "payment_intent.succeeded"


class FakeUnavailable(RuntimeError):
    """No fake Stripe answers where the settings point."""


def webhook_secret(settings: Settings) -> str:
    """The endpoint secret the fake signs with and the Stripe adapter verifies with."""
    payments = settings.payments
    secret = provider_for(settings).get(
        WEBHOOK_SECRET_NAME,
        value=payments.stripe_webhook_secret,
        file=payments.stripe_webhook_secret_file,
        default=DEV_STRIPE_WEBHOOK_SECRET,
        min_length=30,
    )
    return secret.reveal()


class FakePayer:
    def __init__(self, http: httpx.AsyncClient, secret: str) -> None:
        self.http = http
        self.secret = secret

    async def wait_ready(self, seconds: float = 15.0) -> None:
        """`stack up` starts the fake just before it seeds: give it a moment to listen."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                answer = (await self.http.get("/healthz")).json()
                break
            except (httpx.HTTPError, ValueError) as exc:
                if time.monotonic() > deadline:
                    raise FakeUnavailable(f"no fake Stripe at {self.http.base_url}") from exc
                await asyncio.sleep(0.2)
        if not isinstance(answer, dict) or answer.get("provider") != "stripe":
            raise FakeUnavailable(f"{self.http.base_url} is not the stack's fake Stripe")

    async def approve(self, provider_ref: str) -> tuple[dict[str, str], bytes]:
        """Approve the payment; its succeeded event as a webhook delivery (headers, body)."""
        (await self.http.post(f"/_fake/approve/{provider_ref}")).raise_for_status()
        events = (await self.http.get("/_fake/events")).raise_for_status().json()
        body = next(
            orjson.dumps(e["event"])
            for e in reversed(events)
            if e["ref"] == provider_ref and e["type"] == SUCCEEDED
        )
        return {"Stripe-Signature": signature_header(self.secret, body, int(time.time()))}, body
