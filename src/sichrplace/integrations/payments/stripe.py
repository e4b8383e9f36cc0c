"""Stripe PaymentIntents client (https://docs.stripe.com/api/payment_intents).

Wire format: form-encoded request bodies (`metadata[k]=v`, `expand[]=...`), JSON answers,
`Authorization: Bearer sk_...`, a pinned `Stripe-Version`, an `Idempotency-Key` on every POST
(so every POST is retried safely: `ResilientClient` gets `idempotent=True`).

- create_intent: `POST /v1/payment_intents` with `confirm=true`, a redirect-based payment
  method and `return_url`; Stripe answers `status=requires_action` and
  `next_action.redirect_to_url.url`, the page where the payer approves (our approval_url).
  A real account needs the method enabled: Dashboard -> Settings -> Payment methods -> turn
  on `REDIRECT_METHOD` (PayPal through Stripe is available to EU accounts in EUR; any other
  redirect method, e.g. "bancontact" or "eps", works the same way by changing the
  constant). Stripe then captures automatically when the payer approves
  (`payment_intent.succeeded`), so `capture()` only re-reads the intent.
- get_intent: `GET /v1/payment_intents/{id}?expand[]=latest_charge`.
- refund: `POST /v1/refunds` (`payment_intent`, `amount`).
- list_payments: `GET /v1/payment_intents?created[gt]=..&limit=100&starting_after=..`
  while `has_more`, with `expand[]=data.latest_charge` (its `amount_refunded`).

Errors (`{"error": {"type", "code", "message", ...}}`): `card_error` (402) and
`invalid_request_error` (400/404) -> `PaymentDeclined(code)`; `idempotency_error` (the key was
used with other parameters) -> `PaymentDeclined("idempotency_error")`; 401/403 (a wrong key:
configuration) -> `DependencyUnavailable`, logged as an error; 409 (a request with the same
key still running), 429, 5xx and timeouts -> retried, then `DependencyUnavailable`.

Webhooks, as https://docs.stripe.com/webhooks#verify-manually documents: the header
`Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]` (several v1 while a secret is rolled);
the expected v1 is HMAC-SHA256(endpoint secret `whsec_...`, f"{t}.{raw body}") in hex; it
must equal one of the v1 values (constant-time) and t must lie within the tolerance. The
endpoint subscribes to payment_intent.succeeded / .payment_failed / .canceled,
charge.refunded, refund.updated and refund.failed; other types verify and are "ignored".
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NoReturn
from urllib.parse import urlencode

import httpx
import orjson
import redis.asyncio as aioredis
import structlog

from sichrplace.config import PaymentsSettings, get_settings
from sichrplace.integrations.payments import DEV_STRIPE_SECRET_KEY, DEV_STRIPE_WEBHOOK_SECRET
from sichrplace.integrations.payments.types import (
    EventKind,
    IntentStatus,
    PaymentDeclined,
    ProviderEvent,
    ProviderIntent,
    ProviderName,
    ProviderPayment,
    ProviderRefund,
    RefundStatus,
    WebhookRejected,
)
from sichrplace.platform.resilience import (
    DependencyUnavailable,
    Policy,
    ResilientClient,
    Verdict,
)
from sichrplace.platform.secrets import SecretsProvider, provider_for

log = structlog.get_logger(__name__)

DEPENDENCY: Final = "stripe"
API_VERSION: Final = "2024-06-20"
SECRET_KEY_NAME: Final = "SICHRPLACE_PAYMENTS_STRIPE_SECRET_KEY"  # noqa: S105 - a name, not a secret
WEBHOOK_SECRET_NAME: Final = "SICHRPLACE_PAYMENTS_STRIPE_WEBHOOK_SECRET"  # noqa: S105 - a name, not a secret
REDIRECT_METHOD: Final = "paypal"
SIGNATURE_HEADER: Final = "stripe-signature"
LIST_PAGE_SIZE: Final = 100

_INTENT_STATUS: Final[dict[str, IntentStatus]] = {
    "requires_payment_method": "requires_action",
    "requires_confirmation": "requires_action",
    "requires_action": "requires_action",
    "processing": "processing",
    "requires_capture": "processing",
    "succeeded": "succeeded",
    "canceled": "cancelled",
}
_REFUND_STATUS: Final[dict[str, RefundStatus]] = {
    "pending": "pending",
    "requires_action": "pending",
    "succeeded": "succeeded",
    "failed": "failed",
    "canceled": "failed",
}


# --- webhook signatures (pure) ---------------------------------------------------------


def compute_signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex v1 signature Stripe sends for `body` signed at `timestamp`."""
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int) -> str:
    return f"t={timestamp},v1={compute_signature(secret, timestamp, body)}"


def parse_signature_header(header: str) -> tuple[int, list[str]]:
    """`t=..,v1=..[,v1=..][,v0=..]` -> (t, [v1...]); anything malformed -> WebhookRejected."""
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            raise WebhookRejected("malformed Stripe-Signature element")
        if key == "t":
            if not value.isdigit() or timestamp is not None:
                raise WebhookRejected("malformed Stripe-Signature timestamp")
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
        # Other schemes (v0: test-mode legacy) are ignored, as Stripe's libraries do.
    if timestamp is None:
        raise WebhookRejected("no timestamp in Stripe-Signature")
    if not signatures:
        raise WebhookRejected("no v1 signature in Stripe-Signature")
    return timestamp, signatures


def verify_signature(
    header: str | None, body: bytes, secret: str, *, tolerance_seconds: int, now: float
) -> None:
    """Raises WebhookRejected unless one v1 signature matches and t is within tolerance."""
    if not header:
        raise WebhookRejected("no Stripe-Signature header")
    timestamp, signatures = parse_signature_header(header)
    expected = compute_signature(secret, timestamp, body)
    # Compare against every v1 (no early exit on the first match: constant work per header).
    matched = False
    for candidate in signatures:
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise WebhookRejected("no Stripe-Signature v1 matches")
    if abs(now - timestamp) > tolerance_seconds:
        raise WebhookRejected("Stripe-Signature timestamp outside the tolerance")


# --- wire objects -> our types (pure) --------------------------------------------------


def intent_status(obj: Mapping[str, Any]) -> IntentStatus:
    status = str(obj["status"])
    # requires_payment_method after an attempt = the payer's payment was declined.
    if status == "requires_payment_method" and obj.get("last_payment_error"):
        return "failed"
    return _INTENT_STATUS[status]


def _charge_id(obj: Mapping[str, Any]) -> str | None:
    charge = obj.get("latest_charge")
    if isinstance(charge, dict):
        return str(charge["id"])
    return str(charge) if charge else None


def intent_from(obj: Mapping[str, Any]) -> ProviderIntent:
    next_action = obj.get("next_action") or {}
    url = None
    if next_action.get("type") == "redirect_to_url":
        url = (next_action.get("redirect_to_url") or {}).get("url")
    return ProviderIntent(
        provider="stripe",
        provider_ref=str(obj["id"]),
        status=intent_status(obj),
        amount_cents=int(obj["amount"]),
        currency=str(obj["currency"]).upper(),
        approval_url=str(url) if url else None,
        charge_ref=_charge_id(obj),
    )


def refund_from(obj: Mapping[str, Any]) -> ProviderRefund:
    return ProviderRefund(
        provider="stripe",
        refund_ref=str(obj["id"]),
        provider_ref=str(obj.get("payment_intent") or ""),
        status=_REFUND_STATUS.get(str(obj.get("status")), "pending"),
        amount_cents=int(obj["amount"]),
    )


def payment_from(obj: Mapping[str, Any]) -> ProviderPayment:
    charge = obj.get("latest_charge")
    refunded = int(charge.get("amount_refunded", 0)) if isinstance(charge, dict) else 0
    return ProviderPayment(
        provider_ref=str(obj["id"]),
        status=intent_status(obj),
        amount_cents=int(obj["amount"]),
        refunded_cents=refunded,
        currency=str(obj["currency"]).upper(),
    )


def _refund_kind(status: object) -> EventKind:
    if status == "succeeded":
        return "refund_succeeded"
    if status in ("failed", "canceled"):
        return "refund_failed"
    return "ignored"


def event_from(payload: object) -> ProviderEvent:
    """A verified event's JSON -> ProviderEvent; a body of another shape -> WebhookRejected."""
    try:
        assert isinstance(payload, dict)
        event_id, raw_type = str(payload["id"]), str(payload["type"])
        occurred_at = datetime.fromtimestamp(int(payload["created"]), UTC)
        obj = payload["data"]["object"]
        assert isinstance(obj, dict)
        kind: EventKind = "ignored"
        provider_ref: str | None = None
        refund_ref: str | None = None
        amount: int | None = None
        if raw_type.startswith("payment_intent."):
            provider_ref = str(obj["id"])
            amount = int(obj["amount"])
            if raw_type == "payment_intent.succeeded":
                kind = "payment_succeeded"
                amount = int(obj.get("amount_received") or obj["amount"])
            elif raw_type in ("payment_intent.payment_failed", "payment_intent.canceled"):
                kind = "payment_failed"
        elif raw_type == "charge.refunded":
            kind = "refund_succeeded"
            provider_ref = str(obj["payment_intent"]) if obj.get("payment_intent") else None
            refunds = (obj.get("refunds") or {}).get("data") or []
            # Newest first: the refund this event announces.
            if refunds:
                refund_ref, amount = str(refunds[0]["id"]), int(refunds[0]["amount"])
            else:
                amount = int(obj["amount_refunded"])
        elif raw_type in ("refund.created", "refund.updated", "charge.refund.updated"):
            kind = _refund_kind(obj.get("status"))
        elif raw_type == "refund.failed":
            kind = "refund_failed"
        if raw_type.startswith(("refund.", "charge.refund.")):
            refund_ref, amount = str(obj["id"]), int(obj["amount"])
            provider_ref = str(obj["payment_intent"]) if obj.get("payment_intent") else None
    except (AssertionError, KeyError, TypeError, ValueError) as exc:
        raise WebhookRejected(f"not a Stripe event: {exc!r}") from exc
    return ProviderEvent(
        provider="stripe",
        event_id=event_id,
        kind=kind,
        raw_type=raw_type,
        provider_ref=provider_ref,
        refund_ref=refund_ref,
        amount_cents=amount,
        occurred_at=occurred_at,
    )


def form_encode(params: Mapping[str, object]) -> bytes:
    """Stripe's form encoding: nested mappings as `a[b]=..`, sequences as `a[0]=..`."""
    pairs: list[tuple[str, str]] = []

    def add(key: str, value: object) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                add(f"{key}[{k}]", v)
        elif isinstance(value, list | tuple):
            for i, v in enumerate(value):
                add(f"{key}[{i}]", v)
        elif isinstance(value, bool):
            pairs.append((key, "true" if value else "false"))
        elif value is not None:
            pairs.append((key, str(value)))

    for k, v in params.items():
        add(k, v)
    return urlencode(pairs).encode()


def classify(response: httpx.Response) -> Verdict:
    code = response.status_code
    # 409: another request with this idempotency key is still running: try again shortly.
    if code in (409, 429) or code >= 500:
        return "retry"
    if code >= 400:
        return "client_error"
    return "success"


def policy_from(settings: PaymentsSettings) -> Policy:
    return Policy(
        timeout=settings.timeout_seconds,
        connect_timeout=settings.connect_timeout_seconds,
        max_attempts=settings.max_attempts,
        deadline=settings.timeout_seconds * settings.max_attempts + 1,
        failure_threshold=settings.breaker_failure_threshold,
        reset_timeout=settings.breaker_reset_seconds,
    )


class StripeProvider:
    """Implements `types.PaymentProvider` against Stripe's REST API."""

    name: ProviderName = "stripe"
    listing_delay = timedelta(0)  # listed at once

    def __init__(
        self,
        settings: PaymentsSettings,
        *,
        redis: aioredis.Redis | None,
        transport: httpx.AsyncBaseTransport | None = None,
        secrets: SecretsProvider | None = None,
        dependency: str = DEPENDENCY,
    ) -> None:
        self.settings = settings
        secrets = secrets or provider_for(get_settings())
        self._secret_key = secrets.get(
            SECRET_KEY_NAME,
            value=settings.stripe_secret_key,
            file=settings.stripe_secret_key_file,
            default=DEV_STRIPE_SECRET_KEY,
            min_length=30,
        ).reveal()
        self._webhook_secret = secrets.get(
            WEBHOOK_SECRET_NAME,
            value=settings.stripe_webhook_secret,
            file=settings.stripe_webhook_secret_file,
            default=DEV_STRIPE_WEBHOOK_SECRET,
            min_length=30,
        ).reveal()
        self.client = ResilientClient(
            dependency,
            policy=policy_from(settings),
            base_url=settings.stripe_api_base.rstrip("/"),
            redis=redis,
            transport=transport,
            headers={
                "Authorization": f"Bearer {self._secret_key}",
                "Stripe-Version": API_VERSION,
            },
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _post(
        self, path: str, params: Mapping[str, object], *, idempotency_key: str
    ) -> dict[str, Any]:
        headers = {
            "Idempotency-Key": idempotency_key,
            "Content-Type": "application/x-www-form-urlencoded",
        }
        response = await self._send(
            "POST", path, headers=headers, content=form_encode(params), idempotent=True
        )
        return json_object(response)

    async def _get(self, path: str, params: Mapping[str, object]) -> dict[str, Any]:
        pairs = form_encode(params).decode()
        return json_object(await self._send("GET", f"{path}?{pairs}" if pairs else path))

    async def _send(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        try:
            response = await self.client.request(
                method,
                path,
                headers=headers,
                content=content,
                idempotent=idempotent,
                classify=classify,
            )
        except DependencyUnavailable as exc:
            log.warning("stripe_unavailable", reason=exc.reason, detail=exc.detail, path=path)
            raise
        if response.status_code >= 400:
            _raise_for_error(response, path)
        return response

    async def create_intent(
        self,
        *,
        amount_cents: int,
        currency: str,
        idempotency_key: str,
        description: str,
        metadata: Mapping[str, str],
        return_url: str,
    ) -> ProviderIntent:
        params: dict[str, object] = {
            "amount": amount_cents,
            "currency": currency.lower(),
            "description": description,
            "metadata": dict(metadata),
            "confirm": True,
            "payment_method_types": [REDIRECT_METHOD],
            "payment_method_data": {"type": REDIRECT_METHOD},
            "return_url": return_url,
        }
        body = await self._post("/v1/payment_intents", params, idempotency_key=idempotency_key)
        return intent_from(body)

    async def get_intent(self, provider_ref: str) -> ProviderIntent:
        body = await self._get(f"/v1/payment_intents/{provider_ref}", {"expand": ["latest_charge"]})
        return intent_from(body)

    async def capture(self, provider_ref: str, *, idempotency_key: str) -> ProviderIntent:
        # Automatic capture: the money moved when the payer approved; nothing to take.
        return await self.get_intent(provider_ref)

    async def refund(
        self, provider_ref: str, *, amount_cents: int, idempotency_key: str
    ) -> ProviderRefund:
        params = {"payment_intent": provider_ref, "amount": amount_cents}
        body = await self._post("/v1/refunds", params, idempotency_key=idempotency_key)
        return refund_from(body)

    async def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> ProviderEvent:
        lowered = {k.lower(): v for k, v in headers.items()}
        verify_signature(
            lowered.get(SIGNATURE_HEADER),
            body,
            self._webhook_secret,
            tolerance_seconds=self.settings.stripe_webhook_tolerance_seconds,
            now=time.time(),
        )
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise WebhookRejected("body is not JSON") from exc
        return event_from(payload)

    async def list_payments(self, *, created_after: datetime) -> Sequence[ProviderPayment]:
        found: list[ProviderPayment] = []
        params: dict[str, object] = {
            "created": {"gt": int(created_after.timestamp())},
            "limit": LIST_PAGE_SIZE,
            "expand": ["data.latest_charge"],
        }
        while True:
            page = await self._get("/v1/payment_intents", params)
            data = page.get("data") or []
            found.extend(payment_from(obj) for obj in data)
            if not page.get("has_more") or not data:
                return found
            params["starting_after"] = data[-1]["id"]


def json_object(response: httpx.Response, dependency: str = DEPENDENCY) -> dict[str, Any]:
    """A provider's JSON object answer; anything else is the provider failing (an outage)."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        raise DependencyUnavailable(dependency, "unparseable answer", response=response) from exc
    if not isinstance(body, dict):
        raise DependencyUnavailable(dependency, "unexpected answer", response=response)
    return body


def _raise_for_error(response: httpx.Response, path: str) -> NoReturn:
    try:
        error = orjson.loads(response.content).get("error") or {}
    except (orjson.JSONDecodeError, AttributeError):
        error = {}
    kind = str(error.get("type") or "")
    code = str(error.get("decline_code") or error.get("code") or kind or "unknown")
    message = str(error.get("message") or f"HTTP {response.status_code}")
    if response.status_code in (401, 403):
        log.error("stripe_authentication_failed", http_status=response.status_code, path=path)
        raise DependencyUnavailable(DEPENDENCY, "authentication failed", response=response)
    if kind == "idempotency_error":
        log.error("stripe_idempotency_conflict", path=path, message=message)
        raise PaymentDeclined("idempotency_error", message)
    if kind in ("card_error", "invalid_request_error"):
        log.info("stripe_declined", code=code, path=path, http_status=response.status_code)
        raise PaymentDeclined(code, message)
    log.error("stripe_unexpected_error", http_status=response.status_code, type=kind, path=path)
    raise DependencyUnavailable(
        DEPENDENCY, f"HTTP {response.status_code} {kind}", response=response
    )
