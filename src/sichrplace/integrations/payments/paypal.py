"""PayPal client: Orders v2 and Payments v2 (https://developer.paypal.com/docs/api/orders/v2/).

- Auth: `POST /v1/oauth2/token` (HTTP Basic client_id:secret, `grant_type=client_credentials`)
  -> a bearer token, cached in this process until shortly before `expires_in`; a 401 on an
  API call drops it and the call is made once more with a fresh one.
- create_intent: `POST /v2/checkout/orders` (intent CAPTURE, the amount as a decimal string
  converted exactly from cents, `payment_source.paypal.experience_context` with the return
  and cancel URLs, `PayPal-Request-Id` = our idempotency key). The approval URL is the
  `links` entry with rel `payer-action` (or `approve`, the older `application_context` flow).
- get_intent: `GET /v2/checkout/orders/{id}`.
- capture: `POST /v2/checkout/orders/{id}/capture` (PayPal-Request-Id). 422
  ORDER_ALREADY_CAPTURED (a capture whose answer we lost, made with another key) is read
  back with a GET instead of failing.
- refund: the order's capture id, then `POST /v2/payments/captures/{capture_id}/refund`.
- list_payments: the Transaction Search API, `GET /v1/reporting/transactions` (start and end
  date at most 31 days apart, paged by `page`/`total_pages`), because Orders v2 has no list
  endpoint. Each capture of an order appears with `paypal_reference_id_type` "ODR" and the
  order id in `paypal_reference_id`; a refund (T1107, a negative amount) refers to its
  capture's transaction id with type "TXN". So the answer holds captured orders (orders
  never captured move no money and are not listed); PayPal documents that new transactions
  can take up to three hours to appear there, which the reconciliation must allow for.
- Webhooks: `POST /v1/notifications/verify-webhook-signature` with the PAYPAL-* transmission
  headers, our webhook id and the event; `verification_status == "SUCCESS"` or the delivery
  is rejected. The event is spliced in as the raw bytes received (not re-serialised), so the
  CRC PayPal checks is over exactly what it signed.

Errors (`{"name", "message", "details": [{"issue", "description"}], "debug_id"}`): 400/404/
422 -> `PaymentDeclined(issue)`; 401/403 after a fresh token -> `DependencyUnavailable`
(configuration, logged as an error); 429, 5xx, timeouts -> retried, then
`DependencyUnavailable`. Every POST carries PayPal-Request-Id, so it is retried safely.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NoReturn

import httpx
import orjson
import redis.asyncio as aioredis
import structlog
from pydantic import SecretStr

from sichrplace.config import PaymentsSettings, get_settings
from sichrplace.integrations.payments import (
    DEV_PAYPAL_CLIENT_ID,
    DEV_PAYPAL_CLIENT_SECRET,
    DEV_PAYPAL_WEBHOOK_ID,
)
from sichrplace.integrations.payments.money import cents_to_decimal, decimal_to_cents
from sichrplace.integrations.payments.stripe import classify as _stripe_classify
from sichrplace.integrations.payments.stripe import json_object, policy_from
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
from sichrplace.platform.resilience import DependencyUnavailable, ResilientClient, Verdict
from sichrplace.platform.secrets import SecretsProvider, provider_for

log = structlog.get_logger(__name__)

DEPENDENCY: Final = "paypal"
CLIENT_ID_NAME: Final = "SICHRPLACE_PAYMENTS_PAYPAL_CLIENT_ID"
CLIENT_SECRET_NAME: Final = "SICHRPLACE_PAYMENTS_PAYPAL_CLIENT_SECRET"  # noqa: S105 - a name, not a secret
WEBHOOK_ID_NAME: Final = "SICHRPLACE_PAYMENTS_PAYPAL_WEBHOOK_ID"
TOKEN_PATH: Final = "/v1/oauth2/token"  # noqa: S105 - a name, not a secret
VERIFY_PATH: Final = "/v1/notifications/verify-webhook-signature"
SEARCH_PATH: Final = "/v1/reporting/transactions"
# A cached token is dropped this long before PayPal says it expires (clock skew, slow calls).
TOKEN_MARGIN_SECONDS: Final = 60.0
SEARCH_WINDOW: Final = timedelta(days=31)
SEARCH_PAGE_SIZE: Final = 500
REFUND_EVENT_CODE: Final = "T1107"
# The transmission headers of a webhook delivery -> the verify call's fields.
WEBHOOK_HEADERS: Final = {
    "paypal-auth-algo": "auth_algo",
    "paypal-cert-url": "cert_url",
    "paypal-transmission-id": "transmission_id",
    "paypal-transmission-sig": "transmission_sig",
    "paypal-transmission-time": "transmission_time",
}

_ORDER_STATUS: Final[dict[str, IntentStatus]] = {
    "CREATED": "requires_action",
    "SAVED": "requires_action",
    "PAYER_ACTION_REQUIRED": "requires_action",
    "APPROVED": "processing",
    "VOIDED": "cancelled",
}
_CAPTURE_STATUS: Final[dict[str, IntentStatus]] = {
    "COMPLETED": "succeeded",
    "PARTIALLY_REFUNDED": "succeeded",
    "REFUNDED": "succeeded",
    "PENDING": "processing",
    "DECLINED": "failed",
    "FAILED": "failed",
}
_REFUND_STATUS: Final[dict[str, RefundStatus]] = {
    "COMPLETED": "succeeded",
    "PENDING": "pending",
    "FAILED": "failed",
    "CANCELLED": "failed",
}
_SEARCH_STATUS: Final[dict[str, IntentStatus]] = {
    "S": "succeeded",
    "V": "succeeded",  # reversed: the refund appears as its own (negative) transaction
    "P": "processing",
    "D": "failed",
}


# --- wire objects -> our types (pure) --------------------------------------------------


def _captures(order: Mapping[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for unit in order.get("purchase_units") or []:
        found.extend((unit.get("payments") or {}).get("captures") or [])
    return found


def approval_link(order: Mapping[str, Any]) -> str | None:
    links = {link.get("rel"): link.get("href") for link in order.get("links") or []}
    url = links.get("payer-action") or links.get("approve")
    return str(url) if url else None


def order_status(order: Mapping[str, Any]) -> IntentStatus:
    captures = _captures(order)
    if any(c.get("status") in ("DECLINED", "FAILED") for c in captures):
        return "failed"
    status = str(order["status"])
    if status == "COMPLETED":
        return (
            _CAPTURE_STATUS.get(str(captures[0].get("status")), "processing")
            if captures
            else ("processing")
        )
    return _ORDER_STATUS[status]


def intent_from(order: Mapping[str, Any]) -> ProviderIntent:
    amount = order["purchase_units"][0]["amount"]
    captures = _captures(order)
    return ProviderIntent(
        provider="paypal",
        provider_ref=str(order["id"]),
        status=order_status(order),
        amount_cents=decimal_to_cents(str(amount["value"])),
        currency=str(amount["currency_code"]),
        approval_url=approval_link(order),
        charge_ref=str(captures[0]["id"]) if captures else None,
    )


def refund_from(body: Mapping[str, Any], *, order_id: str, amount_cents: int) -> ProviderRefund:
    amount = body.get("amount")
    return ProviderRefund(
        provider="paypal",
        refund_ref=str(body["id"]),
        provider_ref=order_id,
        status=_REFUND_STATUS.get(str(body.get("status")), "pending"),
        amount_cents=decimal_to_cents(str(amount["value"])) if amount else amount_cents,
    )


def _related_order(resource: Mapping[str, Any]) -> str | None:
    related = (resource.get("supplementary_data") or {}).get("related_ids") or {}
    order_id = related.get("order_id")
    return str(order_id) if order_id else None


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def event_from(payload: object) -> ProviderEvent:
    """A verified event's JSON -> ProviderEvent; a body of another shape -> WebhookRejected."""
    try:
        assert isinstance(payload, dict)
        event_id, raw_type = str(payload["id"]), str(payload["event_type"])
        occurred_at = _parse_time(str(payload["create_time"]))
        resource = payload["resource"]
        assert isinstance(resource, dict)
        kind: EventKind = "ignored"
        provider_ref: str | None = None
        refund_ref: str | None = None
        amount: int | None = None
        if raw_type == "CHECKOUT.ORDER.APPROVED":
            kind, provider_ref = "payment_approved", str(resource["id"])
            amount = decimal_to_cents(str(resource["purchase_units"][0]["amount"]["value"]))
        elif raw_type in (
            "PAYMENT.CAPTURE.COMPLETED",
            "PAYMENT.CAPTURE.DENIED",
            "PAYMENT.CAPTURE.DECLINED",
        ):
            succeeded = raw_type == "PAYMENT.CAPTURE.COMPLETED"
            kind = "payment_succeeded" if succeeded else "payment_failed"
            provider_ref = _related_order(resource)
            if provider_ref is None:
                raise ValueError("capture without supplementary_data.related_ids.order_id")
            amount = decimal_to_cents(str(resource["amount"]["value"]))
        elif raw_type == "PAYMENT.CAPTURE.REFUNDED":
            # The resource is the refund; its order is named only when PayPal adds it.
            kind, refund_ref = "refund_succeeded", str(resource["id"])
            provider_ref = _related_order(resource)
            amount = decimal_to_cents(str(resource["amount"]["value"]))
    except (AssertionError, KeyError, TypeError, ValueError, IndexError) as exc:
        raise WebhookRejected(f"not a PayPal event: {exc!r}") from exc
    return ProviderEvent(
        provider="paypal",
        event_id=event_id,
        kind=kind,
        raw_type=raw_type,
        provider_ref=provider_ref,
        refund_ref=refund_ref,
        amount_cents=amount,
        occurred_at=occurred_at,
    )


def payments_from_transactions(details: Sequence[Mapping[str, Any]]) -> list[ProviderPayment]:
    """Transaction Search rows -> one ProviderPayment per captured order, refunds summed."""
    by_capture: dict[str, dict[str, Any]] = {}
    refunds: dict[str, int] = {}
    for row in details:
        info = row.get("transaction_info") or {}
        cents = decimal_to_cents(str(info["transaction_amount"]["value"]))
        ref_type = info.get("paypal_reference_id_type")
        if info.get("transaction_event_code") == REFUND_EVENT_CODE or cents < 0:
            if ref_type == "TXN":
                capture_id = str(info["paypal_reference_id"])
                refunds[capture_id] = refunds.get(capture_id, 0) + abs(cents)
            continue
        if ref_type != "ODR":
            continue
        by_capture[str(info["transaction_id"])] = {
            "order": str(info["paypal_reference_id"]),
            "status": _SEARCH_STATUS.get(str(info.get("transaction_status")), "processing"),
            "cents": cents,
            "currency": str(info["transaction_amount"]["currency_code"]),
        }
    return [
        ProviderPayment(
            provider_ref=p["order"],
            status=p["status"],
            amount_cents=p["cents"],
            refunded_cents=refunds.get(capture_id, 0),
            currency=p["currency"],
        )
        for capture_id, p in by_capture.items()
    ]


def _search_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def classify(response: httpx.Response) -> Verdict:
    # PayPal: 409 is not a "key in use" answer; only 429 and 5xx are transient.
    if response.status_code == 409:
        return "client_error"
    return _stripe_classify(response)


class PaypalProvider:
    """Implements `types.PaymentProvider` against PayPal's REST APIs."""

    name: ProviderName = "paypal"
    listing_delay = timedelta(hours=3)  # PayPal lists a new transaction up to three hours late

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
        client_id = secrets.get(
            CLIENT_ID_NAME,
            value=SecretStr(settings.paypal_client_id) if settings.paypal_client_id else None,
            default=DEV_PAYPAL_CLIENT_ID,
        ).reveal()
        client_secret = secrets.get(
            CLIENT_SECRET_NAME,
            value=settings.paypal_client_secret,
            file=settings.paypal_client_secret_file,
            default=DEV_PAYPAL_CLIENT_SECRET,
            min_length=20,
        ).reveal()
        self._webhook_id = secrets.get(
            WEBHOOK_ID_NAME,
            value=SecretStr(settings.paypal_webhook_id) if settings.paypal_webhook_id else None,
            default=DEV_PAYPAL_WEBHOOK_ID,
        ).reveal()
        self._basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()
        self.client = ResilientClient(
            dependency,
            policy=policy_from(settings),
            base_url=settings.paypal_api_base.rstrip("/"),
            redis=redis,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    # --- transport ---------------------------------------------------------------------

    async def _access_token(self, *, stale: str | None = None) -> str:
        async with self._token_lock:
            # Another call may have refreshed it while this one waited for the lock.
            fresh = self._token is not None and self._token != stale
            if fresh and time.monotonic() < self._token_expires:
                assert self._token is not None
                return self._token
            response = await self.client.post(
                TOKEN_PATH,
                headers={
                    "Authorization": f"Basic {self._basic}",
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Accept": "application/json",
                },
                content=b"grant_type=client_credentials",
                idempotent=True,  # a token request changes nothing: safe to repeat
                classify=classify,
            )
            if response.status_code >= 400:
                log.error("paypal_token_refused", http_status=response.status_code)
                raise DependencyUnavailable(
                    DEPENDENCY, f"token refused: HTTP {response.status_code}", response=response
                )
            body = _json(response)
            expires_in = float(body.get("expires_in") or 0)
            self._token = str(body["access_token"])
            self._token_expires = time.monotonic() + max(0.0, expires_in - TOKEN_MARGIN_SECONDS)
            return self._token

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: object = None,
        content: bytes | None = None,
        request_id: str | None = None,
        params: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        headers = {"Accept": "application/json", "Prefer": "return=representation"}
        if request_id is not None:
            headers["PayPal-Request-Id"] = request_id
        if body is not None:
            content = orjson.dumps(body)
        if content is not None:
            headers["Content-Type"] = "application/json"
        token: str | None = None
        for _ in range(2):
            token = await self._access_token(stale=token)
            headers["Authorization"] = f"Bearer {token}"
            try:
                response = await self.client.request(
                    method,
                    path,
                    params=params,
                    headers=headers,
                    content=content,
                    # With a request id PayPal answers a repeat with the first result.
                    idempotent=True if request_id is not None else idempotent,
                    classify=classify,
                )
            except DependencyUnavailable as exc:
                log.warning("paypal_unavailable", reason=exc.reason, detail=exc.detail, path=path)
                raise
            if response.status_code != 401:
                return response
            log.info("paypal_token_rejected", path=path)
        log.error("paypal_authentication_failed", path=path)
        raise DependencyUnavailable(DEPENDENCY, "authentication failed", response=response)

    async def _ok(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = await self._call(method, path, **kwargs)
        if response.status_code >= 400:
            _raise_for_error(response, path)
        return _json(response)

    # --- the interface -----------------------------------------------------------------

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
        unit: dict[str, Any] = {
            "description": description[:127],
            "amount": {"currency_code": currency.upper(), "value": cents_to_decimal(amount_cents)},
        }
        custom = ";".join(f"{k}={v}" for k, v in sorted(metadata.items()))
        if custom:
            unit["custom_id"] = custom[:127]  # PayPal's limit; it shows up in reports
        order = {
            "intent": "CAPTURE",
            "purchase_units": [unit],
            "payment_source": {
                "paypal": {
                    "experience_context": {
                        "return_url": return_url,
                        "cancel_url": return_url,
                        "user_action": "PAY_NOW",
                        "locale": "de-DE",
                        "shipping_preference": "NO_SHIPPING",
                        "brand_name": "SichrPlace",
                    }
                }
            },
        }
        body = await self._ok("POST", "/v2/checkout/orders", body=order, request_id=idempotency_key)
        return intent_from(body)

    async def get_intent(self, provider_ref: str) -> ProviderIntent:
        return intent_from(await self._ok("GET", f"/v2/checkout/orders/{provider_ref}"))

    async def capture(self, provider_ref: str, *, idempotency_key: str) -> ProviderIntent:
        path = f"/v2/checkout/orders/{provider_ref}/capture"
        response = await self._call("POST", path, content=b"{}", request_id=idempotency_key)
        if response.status_code >= 400:
            if _issue(response) == "ORDER_ALREADY_CAPTURED":
                return await self.get_intent(provider_ref)
            _raise_for_error(response, path)
        return intent_from(_json(response))

    async def refund(
        self, provider_ref: str, *, amount_cents: int, idempotency_key: str
    ) -> ProviderRefund:
        order = await self._ok("GET", f"/v2/checkout/orders/{provider_ref}")
        captures = _captures(order)
        if not captures:
            raise PaymentDeclined("NOT_CAPTURED", f"order {provider_ref} has no capture")
        currency = str(order["purchase_units"][0]["amount"]["currency_code"])
        body = await self._ok(
            "POST",
            f"/v2/payments/captures/{captures[0]['id']}/refund",
            body={"amount": {"value": cents_to_decimal(amount_cents), "currency_code": currency}},
            request_id=idempotency_key,
        )
        return refund_from(body, order_id=provider_ref, amount_cents=amount_cents)

    async def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> ProviderEvent:
        lowered = {k.lower(): v for k, v in headers.items()}
        fields = {}
        for header, field in WEBHOOK_HEADERS.items():
            value = lowered.get(header)
            if not value:
                raise WebhookRejected(f"no {header.upper()} header")
            fields[field] = value
        fields["webhook_id"] = self._webhook_id
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise WebhookRejected("body is not JSON") from exc
        event = event_from(payload)  # shape first: no verify call for a malformed body
        # The raw event bytes go in as they came, so PayPal checks what it signed.
        content = orjson.dumps(fields)[:-1] + b',"webhook_event":' + body.strip() + b"}"
        # Verifying changes nothing at PayPal: safe to retry.
        response = await self._call("POST", VERIFY_PATH, content=content, idempotent=True)
        if response.status_code >= 400:
            log.warning("paypal_webhook_verify_refused", http_status=response.status_code)
            raise WebhookRejected(f"verification refused: HTTP {response.status_code}")
        status = _json(response).get("verification_status")
        if status != "SUCCESS":
            raise WebhookRejected(f"verification_status {status}")
        return event

    async def list_payments(self, *, created_after: datetime) -> Sequence[ProviderPayment]:
        rows: list[Mapping[str, Any]] = []
        # The API takes whole seconds: round up so this second's transactions are included.
        end = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
        start = created_after
        while start < end:
            window_end = min(start + SEARCH_WINDOW, end)
            page, pages = 1, 1
            while page <= pages:
                params = {
                    "start_date": _search_time(start),
                    "end_date": _search_time(window_end),
                    "fields": "transaction_info",
                    "page_size": str(SEARCH_PAGE_SIZE),
                    "page": str(page),
                }
                body = await self._ok("GET", SEARCH_PATH, params=params)
                rows.extend(body.get("transaction_details") or [])
                pages = int(body.get("total_pages") or 1)
                page += 1
            start = window_end
        return payments_from_transactions(rows)


def _json(response: httpx.Response) -> dict[str, Any]:
    return json_object(response, DEPENDENCY)


def _error(response: httpx.Response) -> tuple[str, str]:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    details = body.get("details") or [{}]
    first = details[0] if isinstance(details[0], dict) else {}
    issue = str(first.get("issue") or body.get("name") or f"HTTP_{response.status_code}")
    message = str(first.get("description") or body.get("message") or "")
    return issue, message


def _issue(response: httpx.Response) -> str:
    return _error(response)[0]


def _raise_for_error(response: httpx.Response, path: str) -> NoReturn:
    issue, message = _error(response)
    if response.status_code == 403:
        log.error("paypal_not_authorized", path=path, issue=issue)
        raise DependencyUnavailable(DEPENDENCY, f"not authorized: {issue}", response=response)
    if response.status_code in (400, 404, 409, 422):
        log.info("paypal_declined", issue=issue, path=path, http_status=response.status_code)
        raise PaymentDeclined(issue, message)
    log.error("paypal_unexpected_error", http_status=response.status_code, issue=issue, path=path)
    raise DependencyUnavailable(
        DEPENDENCY, f"HTTP {response.status_code} {issue}", response=response
    )
