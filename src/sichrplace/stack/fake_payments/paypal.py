"""A fake PayPal: OAuth2 tokens, Orders v2, Payments v2 refunds, Transaction Search, webhook
deliveries and the verify-webhook-signature call, in PayPal's wire format.

API (JSON; `Authorization: Bearer <token from /v1/oauth2/token>`; a missing or expired token
-> 401 AUTHENTICATION_FAILURE):
  POST /v1/oauth2/token (Basic client_id:client_secret, grant_type=client_credentials)
  POST /v2/checkout/orders · GET /v2/checkout/orders/{id} ·
  POST /v2/checkout/orders/{id}/capture · POST /v2/payments/captures/{id}/refund ·
  GET /v1/reporting/transactions · POST /v1/notifications/verify-webhook-signature
Idempotency: a POST's `PayPal-Request-Id` returns the latest state of what the first request
made (create: the order; capture: the order; refund: the refund); the same id with another
body -> 422 PAYPAL_REQUEST_ID_PREVIOUSLY_USED.
Webhooks carry PAYPAL-TRANSMISSION-ID/-TIME/-SIG, PAYPAL-CERT-URL, PAYPAL-AUTH-ALGO. The real
signature is RSA over "id|time|webhook_id|crc32(body)"; the fake signs the same string with
an HMAC key of its own, and its verify call answers SUCCESS only for a transmission it sent,
with the event it sent and its webhook id, FAILURE for anything else.
`POST /_fake/expire-tokens` invalidates every issued token (to test the refresh on 401).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sichrplace.integrations.payments.money import cents_to_decimal, decimal_to_cents
from sichrplace.stack.fake_payments.common import (
    Checkout,
    FakeConfig,
    FakeProvider,
    Fault,
    Op,
    iso_now,
    json_response,
    random_id,
)

_UPPER = string.ascii_uppercase + string.digits


def _pp_id(length: int = 17) -> str:
    return random_id("", length, alphabet=_UPPER)


def _problem(
    status: int, name: str, message: str, issue: str | None = None, description: str = ""
) -> Response:
    body: dict[str, Any] = {"name": name, "message": message, "debug_id": _pp_id(13).lower()}
    if issue:
        body["details"] = [{"issue": issue, "description": description}]
    return json_response(body, status)


def _unprocessable(issue: str, description: str) -> Response:
    return _problem(
        422,
        "UNPROCESSABLE_ENTITY",
        "The requested action could not be performed, semantically incorrect, or failed "
        "business validation.",
        issue,
        description,
    )


@dataclass(frozen=True)
class Transmission:
    signature: str
    time: str
    event_id: str


class FakePaypal(FakeProvider):
    provider = "paypal"

    def __init__(self, config: FakeConfig) -> None:
        super().__init__(config)
        self.orders: dict[str, dict[str, Any]] = {}
        self.captures: dict[str, str] = {}  # capture id -> order id
        self.refunds: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, float] = {}
        self.transmissions: dict[str, Transmission] = {}
        self._request_ids: dict[str, tuple[str, Callable[[], Response]]] = {}
        self._signing_key = secrets.token_bytes(32)
        self._created: dict[str, float] = {}  # order / refund id -> unix time (search)

    # --- signing, checkout ------------------------------------------------------------
    def _string_to_sign(self, transmission_id: str, when: str, body: bytes) -> bytes:
        crc = zlib.crc32(body)
        return f"{transmission_id}|{when}|{self.config.webhook_id}|{crc}".encode()

    def sign(self, body: bytes) -> dict[str, str]:
        transmission_id = str(uuid.uuid4())
        when = iso_now()
        digest = hmac.new(
            self._signing_key, self._string_to_sign(transmission_id, when, body), hashlib.sha256
        ).digest()
        signature = base64.b64encode(digest).decode()
        event_id = str(orjson.loads(body)["id"])
        self.transmissions[transmission_id] = Transmission(signature, when, event_id)
        return {
            "PAYPAL-TRANSMISSION-ID": transmission_id,
            "PAYPAL-TRANSMISSION-TIME": when,
            "PAYPAL-TRANSMISSION-SIG": signature,
            "PAYPAL-CERT-URL": f"{self.base_url}/v1/notifications/certs/CERT-fake-sichrplace",
            "PAYPAL-AUTH-ALGO": "SHA256withRSA",
            "User-Agent": "PayPal/AUHD-214.0-58614286",
        }

    def checkout(self, ref: str) -> Checkout | None:
        order = self.orders.get(ref)
        if order is None:
            return None
        unit = order["purchase_units"][0]
        declined = any(c["status"] == "DECLINED" for c in _captures(order))
        state = (
            "open"
            if order["status"] == "PAYER_ACTION_REQUIRED"
            else ("declined" if declined or order["status"] == "VOIDED" else "approved")
        )
        return Checkout(
            decimal_to_cents(unit["amount"]["value"]),
            unit["amount"]["currency_code"],
            unit.get("description") or "",
            state,
            order["_return_url"],
        )

    def return_url_for(self, ref: str, approved: bool) -> str | None:
        order = self.orders[ref]
        target = order["_return_url"] if approved else order["_cancel_url"]
        if not target:
            return None
        query = urlencode({"token": ref, "PayerID": order.get("_payer_id") or ""})
        return f"{target}{'&' if '?' in target else '?'}{query}"

    # --- representations ------------------------------------------------------------------
    def public_order(self, order: dict[str, Any]) -> dict[str, Any]:
        shown: dict[str, Any] = _strip(order)
        oid = order["id"]
        links = [
            {"href": f"{self.base_url}/v2/checkout/orders/{oid}", "rel": "self", "method": "GET"}
        ]
        if order["status"] == "PAYER_ACTION_REQUIRED":
            links.append(
                {"href": f"{self.base_url}/checkout/{oid}", "rel": "payer-action", "method": "GET"}
            )
        if order["status"] == "APPROVED":
            links.append(
                {
                    "href": f"{self.base_url}/v2/checkout/orders/{oid}/capture",
                    "rel": "capture",
                    "method": "POST",
                }
            )
        shown["links"] = links
        return shown

    def _capture_resource(self, order: dict[str, Any], capture: dict[str, Any]) -> dict[str, Any]:
        return {
            **_strip(capture),
            "supplementary_data": {"related_ids": {"order_id": order["id"]}},
            "links": [
                {
                    "href": f"{self.base_url}/v2/payments/captures/{capture['id']}",
                    "rel": "self",
                    "method": "GET",
                },
                {
                    "href": f"{self.base_url}/v2/checkout/orders/{order['id']}",
                    "rel": "up",
                    "method": "GET",
                },
            ],
        }

    def _event(
        self, event_type: str, resource_type: str, ref: str, resource: dict[str, Any], summary: str
    ) -> None:
        event_id = "WH-" + _pp_id(17) + "-" + _pp_id(17)
        payload = {
            "id": event_id,
            "event_version": "1.0",
            "create_time": iso_now(),
            "resource_type": resource_type,
            "resource_version": "2.0",
            "event_type": event_type,
            "summary": summary,
            "resource": resource,
            "links": [
                {
                    "href": f"{self.base_url}/v1/notifications/webhooks-events/{event_id}",
                    "rel": "self",
                    "method": "GET",
                }
            ],
        }
        self.outbox.emit(event_id, event_type, ref, payload)

    # --- payer actions ----------------------------------------------------------------
    def approve(self, ref: str) -> dict[str, Any] | None:
        order = self.orders.get(ref)
        if order is None:
            return None
        if order["status"] == "PAYER_ACTION_REQUIRED":
            order["_payer_id"] = _pp_id(13)
            order["status"] = "APPROVED"
            order["payer"] = {
                "payer_id": order["_payer_id"],
                "email_address": "mieter@example.test",
                "name": {"given_name": "Test", "surname": "Mieter"},
            }
            order["update_time"] = iso_now()
            self._event(
                "CHECKOUT.ORDER.APPROVED",
                "checkout-order",
                ref,
                self.public_order(order),
                "An order has been approved by buyer",
            )
        return self.public_order(order)

    def decline(self, ref: str) -> dict[str, Any] | None:
        """The payer's funding is denied: a DECLINED capture and PAYMENT.CAPTURE.DENIED."""
        order = self.orders.get(ref)
        if order is None:
            return None
        if order["status"] in ("PAYER_ACTION_REQUIRED", "APPROVED"):
            capture = self._new_capture(order, "DECLINED")
            order["status"] = "COMPLETED"
            self._event(
                "PAYMENT.CAPTURE.DENIED",
                "capture",
                ref,
                self._capture_resource(order, capture),
                "A payment capture was denied",
            )
        return self.public_order(order)

    def _new_capture(self, order: dict[str, Any], status: str) -> dict[str, Any]:
        unit = order["purchase_units"][0]
        capture_id = _pp_id(17)
        capture: dict[str, Any] = {
            "id": capture_id,
            "status": status,
            "amount": dict(unit["amount"]),
            "final_capture": True,
            "seller_protection": {"status": "ELIGIBLE"},
            "create_time": iso_now(),
            "update_time": iso_now(),
            "_refunded_cents": 0,
        }
        unit["payments"] = {"captures": [capture]}
        self.captures[capture_id] = order["id"]
        self._created[capture_id] = time.time()
        return capture

    def fault_response(self, op: Op, fault: Fault) -> Response:
        if fault == "http_500":
            return _problem(500, "INTERNAL_SERVER_ERROR", "An internal server error occurred.")
        if fault == "rate_limit":
            return _problem(
                429, "RATE_LIMIT_REACHED", "Too many requests. Blocked due to rate limiting."
            )
        if op == "capture":
            return _unprocessable(
                "INSTRUMENT_DECLINED",
                "The instrument presented was either declined by the processor "
                "or bank, or it can't be used for this payment.",
            )
        return _unprocessable("TRANSACTION_REFUSED", "The request was refused.")

    # --- auth ---------------------------------------------------------------------------
    async def token(self, request: Request) -> Response:
        self.public(request)
        expected = base64.b64encode(
            f"{self.config.client_id}:{self.config.client_secret}".encode()
        ).decode()
        given = request.headers.get("authorization", "")
        body = (await request.body()).decode()
        if not hmac.compare_digest(given, f"Basic {expected}"):
            return JSONResponse(
                {"error": "invalid_client", "error_description": "Client Authentication failed"},
                401,
            )
        if "grant_type=client_credentials" not in body:
            return JSONResponse(
                {"error": "unsupported_grant_type", "error_description": "Grant Type is NULL"}, 400
            )
        token = "A21AA" + random_id("", 60)
        self.tokens[token] = time.time() + self.config.token_ttl_seconds
        return JSONResponse(
            {
                "scope": "https://uri.paypal.com/services/payments/payment",
                "access_token": token,
                "token_type": "Bearer",
                "app_id": "APP-80W284485P519543T",
                "expires_in": self.config.token_ttl_seconds,
                "nonce": f"{iso_now()}{random_id('', 20)}",
            }
        )

    async def expire_tokens(self, request: Request) -> Response:
        count = len(self.tokens)
        self.tokens.clear()
        return JSONResponse({"expired": count})

    def _authorized(self, request: Request) -> Response | None:
        self.public(request)
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ")
        if auth.startswith("Bearer ") and self.tokens.get(token, 0) > time.time():
            return None
        return json_response(
            {
                "name": "AUTHENTICATION_FAILURE",
                "message": "Authentication failed due to invalid authentication credentials or a "
                "missing Authorization header.",
                "links": [
                    {
                        "href": "https://developer.paypal.com/docs/api/overview/#error",
                        "rel": "information_link",
                    }
                ],
            },
            401,
        )

    async def _idempotent(
        self,
        request: Request,
        op: Op,
        execute: Callable[
            [dict[str, Any], bool], Awaitable[tuple[Response, Callable[[], Response] | None]]
        ],
    ) -> Response:
        """PayPal-Request-Id: the first request's result, as it stands now, for a repeat."""
        denied = self._authorized(request)
        if denied:
            return denied
        raw = await request.body()
        try:
            data = orjson.loads(raw) if raw.strip() else {}
        except orjson.JSONDecodeError:
            return _problem(
                400,
                "INVALID_REQUEST",
                "Request is not well-formed, syntactically incorrect, or violates schema.",
                "MALFORMED_REQUEST_JSON",
                "The request JSON is not well formed.",
            )
        request_id = request.headers.get("paypal-request-id")
        digest = hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()
        fingerprint = f"{request.url.path}|{digest}"

        async def run(declined: bool) -> Response:
            if not request_id:
                response, _ = await execute(data, declined)
                return response
            key = f"{op}:{request_id}"
            async with self.lock(f"req:{key}"):
                stored = self._request_ids.get(key)
                if stored is not None:
                    if stored[0] != fingerprint:
                        return _unprocessable(
                            "PAYPAL_REQUEST_ID_PREVIOUSLY_USED",
                            "The PayPal-Request-Id has already been used for another request.",
                        )
                    return stored[1]()
                response, latest = await execute(data, declined)
                if latest is not None:
                    self._request_ids[key] = (fingerprint, latest)
                return response

        return await self.with_faults(op, run, decides_decline=True)

    # --- orders -------------------------------------------------------------------------
    async def create_order(self, request: Request) -> Response:
        return await self._idempotent(request, "create", self._create)

    async def _create(
        self, data: dict[str, Any], declined: bool
    ) -> tuple[Response, Callable[[], Response] | None]:
        if declined:
            return self.fault_response("create", "decline"), None
        try:
            assert data.get("intent") in ("CAPTURE", "AUTHORIZE")
            unit = data["purchase_units"][0]
            cents = decimal_to_cents(str(unit["amount"]["value"]))
            assert unit["amount"]["currency_code"]
            assert cents > 0
        except (AssertionError, KeyError, IndexError, TypeError, ValueError):
            return _problem(
                400,
                "INVALID_REQUEST",
                "Request is not well-formed, syntactically incorrect, or violates schema.",
                "INVALID_PARAMETER_VALUE",
                "The value of a field is invalid.",
            ), None
        context = (
            ((data.get("payment_source") or {}).get("paypal") or {}).get("experience_context")
            or data.get("application_context")
            or {}
        )
        order_id = _pp_id(17)
        order = {
            "id": order_id,
            "intent": data["intent"],
            "status": "PAYER_ACTION_REQUIRED",
            "payment_source": {"paypal": {}},
            "purchase_units": [
                {
                    "reference_id": unit.get("reference_id", "default"),
                    "amount": {
                        "currency_code": unit["amount"]["currency_code"],
                        "value": cents_to_decimal(cents),
                    },
                    "description": unit.get("description"),
                    "custom_id": unit.get("custom_id"),
                }
            ],
            "create_time": iso_now(),
            "_return_url": context.get("return_url"),
            "_cancel_url": context.get("cancel_url") or context.get("return_url"),
        }
        self.orders[order_id] = order
        self._created[order_id] = time.time()
        return (
            json_response(self.public_order(order), 201),
            lambda: json_response(self.public_order(order), 200),
        )

    async def get_order(self, request: Request) -> Response:
        denied = self._authorized(request)
        if denied:
            return denied

        async def run(declined: bool) -> Response:
            order = self.orders.get(request.path_params["id"])
            if order is None:
                return _problem(
                    404,
                    "RESOURCE_NOT_FOUND",
                    "The specified resource does not exist.",
                    "INVALID_RESOURCE_ID",
                    "Specified resource ID does not exist.",
                )
            return json_response(self.public_order(order))

        return await self.with_faults("get", run)

    async def capture_order(self, request: Request) -> Response:
        order_id = request.path_params["id"]

        async def execute(
            data: dict[str, Any], declined: bool
        ) -> tuple[Response, Callable[[], Response] | None]:
            order = self.orders.get(order_id)
            if order is None:
                return _problem(
                    404,
                    "RESOURCE_NOT_FOUND",
                    "The specified resource does not exist.",
                    "INVALID_RESOURCE_ID",
                    "Specified resource ID does not exist.",
                ), None
            if declined:
                return self.fault_response("capture", "decline"), None
            if order["status"] == "COMPLETED":
                return _unprocessable(
                    "ORDER_ALREADY_CAPTURED",
                    "Order already captured. If 'intent=CAPTURE' only one "
                    "capture per order is allowed.",
                ), None
            if order["status"] != "APPROVED":
                return _unprocessable(
                    "ORDER_NOT_APPROVED", "Payer has not yet approved the Order for payment."
                ), None
            capture = self._new_capture(order, "COMPLETED")
            order["status"] = "COMPLETED"
            order["update_time"] = iso_now()
            self._event(
                "PAYMENT.CAPTURE.COMPLETED",
                "capture",
                order_id,
                self._capture_resource(order, capture),
                "Payment completed for EUR",
            )

            def latest() -> Response:
                return json_response(self.public_order(order), 201)

            return latest(), latest

        return await self._idempotent(request, "capture", execute)

    async def refund_capture(self, request: Request) -> Response:
        capture_id = request.path_params["id"]

        async def execute(
            data: dict[str, Any], declined: bool
        ) -> tuple[Response, Callable[[], Response] | None]:
            order_id = self.captures.get(capture_id)
            if order_id is None:
                return _problem(
                    404,
                    "RESOURCE_NOT_FOUND",
                    "The specified resource does not exist.",
                    "INVALID_RESOURCE_ID",
                    "Specified resource ID does not exist.",
                ), None
            if declined:
                return self.fault_response("refund", "decline"), None
            order = self.orders[order_id]
            capture = _captures(order)[0]
            total = decimal_to_cents(capture["amount"]["value"])
            remaining = total - capture["_refunded_cents"]
            if capture["status"] not in ("COMPLETED", "PARTIALLY_REFUNDED") or remaining <= 0:
                return _unprocessable(
                    "CAPTURE_FULLY_REFUNDED", "The capture has already been fully refunded"
                ), None
            try:
                cents = (
                    decimal_to_cents(str(data["amount"]["value"]))
                    if data.get("amount")
                    else remaining
                )
            except (KeyError, TypeError, ValueError):
                return _problem(
                    400,
                    "INVALID_REQUEST",
                    "Request is not well-formed.",
                    "INVALID_PARAMETER_VALUE",
                    "amount",
                ), None
            if cents <= 0 or cents > remaining:
                return _unprocessable(
                    "REFUND_AMOUNT_EXCEEDED",
                    "The refund amount must be less than or equal to the "
                    "capture amount that has not yet been refunded.",
                ), None
            refund_id = _pp_id(17)
            refund = {
                "id": refund_id,
                "status": "COMPLETED",
                "amount": {
                    "currency_code": capture["amount"]["currency_code"],
                    "value": cents_to_decimal(cents),
                },
                "create_time": iso_now(),
                "update_time": iso_now(),
                "links": [
                    {
                        "href": f"{self.base_url}/v2/payments/refunds/{refund_id}",
                        "rel": "self",
                        "method": "GET",
                    },
                    {
                        "href": f"{self.base_url}/v2/payments/captures/{capture_id}",
                        "rel": "up",
                        "method": "GET",
                    },
                ],
            }
            self.refunds[refund_id] = {**refund, "_capture_id": capture_id}
            self._created[refund_id] = time.time()
            capture["_refunded_cents"] += cents
            capture["status"] = "REFUNDED" if cents == remaining else "PARTIALLY_REFUNDED"
            self._event(
                "PAYMENT.CAPTURE.REFUNDED",
                "refund",
                order_id,
                refund,
                f"A EUR {cents_to_decimal(cents)} capture payment was refunded",
            )

            def latest() -> Response:
                return json_response(refund, 201)

            return latest(), latest

        return await self._idempotent(request, "refund", execute)

    # --- reporting, webhooks ----------------------------------------------------------
    async def search(self, request: Request) -> Response:
        denied = self._authorized(request)
        if denied:
            return denied
        q = request.query_params

        async def run(declined: bool) -> Response:
            try:
                start = _parse_time(q["start_date"])
                end = _parse_time(q["end_date"])
            except (KeyError, ValueError):
                return _problem(
                    400,
                    "INVALID_REQUEST",
                    "Request is not well-formed.",
                    "INVALID_REQUEST",
                    "start_date and end_date are required",
                )
            if (end - start).days > 31:
                return _problem(
                    400,
                    "INVALID_REQUEST",
                    "Date range is greater than 31 days",
                    "INVALID_REQUEST",
                    "Date range is greater than 31 days",
                )
            rows = self._transactions(start.timestamp(), end.timestamp())
            size = max(1, min(500, int(q.get("page_size") or 100)))
            page = max(1, int(q.get("page") or 1))
            pages = max(1, -(-len(rows) // size))
            return json_response(
                {
                    "transaction_details": rows[(page - 1) * size : page * size],
                    "account_number": "FAKESICHRPLACE",
                    "start_date": q["start_date"],
                    "end_date": q["end_date"],
                    "last_refreshed_datetime": iso_now(),
                    "page": page,
                    "total_items": len(rows),
                    "total_pages": pages,
                }
            )

        return await self.with_faults("list", run)

    def _transactions(self, start: float, end: float) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        status = {
            "COMPLETED": "S",
            "REFUNDED": "V",
            "PARTIALLY_REFUNDED": "S",
            "DECLINED": "D",
            "PENDING": "P",
        }
        for capture_id, order_id in self.captures.items():
            at = self._created[capture_id]
            if not start <= at <= end:
                continue
            capture = _captures(self.orders[order_id])[0]
            rows.append(
                _row(
                    capture_id,
                    "T0006",
                    order_id,
                    "ODR",
                    capture["amount"],
                    status.get(capture["status"], "P"),
                    at,
                )
            )
        for refund_id, refund in self.refunds.items():
            at = self._created[refund_id]
            if start <= at <= end:
                amount = {**refund["amount"], "value": "-" + refund["amount"]["value"]}
                rows.append(_row(refund_id, "T1107", refund["_capture_id"], "TXN", amount, "S", at))
        return rows

    async def verify(self, request: Request) -> Response:
        denied = self._authorized(request)
        if denied:
            return denied
        try:
            data = orjson.loads(await request.body())
            fields = {
                k: str(data[k])
                for k in (
                    "auth_algo",
                    "cert_url",
                    "transmission_id",
                    "transmission_sig",
                    "transmission_time",
                    "webhook_id",
                )
            }
            event = data["webhook_event"]
            assert isinstance(event, dict)
        except (orjson.JSONDecodeError, KeyError, AssertionError, TypeError):
            return _problem(
                400,
                "VALIDATION_ERROR",
                "Invalid request - see details",
                "MISSING_REQUIRED_PARAMETER",
                "A required field is missing.",
            )
        sent = self.transmissions.get(fields["transmission_id"])
        recorded = self.outbox.events.get(str(event.get("id")))
        ok = (
            sent is not None
            and recorded is not None
            and fields["webhook_id"] == self.config.webhook_id
            and sent.event_id == recorded.id
            and sent.time == fields["transmission_time"]
            and hmac.compare_digest(sent.signature, fields["transmission_sig"])
            and orjson.loads(recorded.body) == event
        )
        return JSONResponse({"verification_status": "SUCCESS" if ok else "FAILURE"})


def _row(
    txn_id: str, code: str, ref: str, ref_type: str, amount: dict[str, str], status: str, at: float
) -> dict[str, Any]:
    when = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
    return {
        "transaction_info": {
            "paypal_account_id": "FAKESICHRPLACE",
            "transaction_id": txn_id,
            "paypal_reference_id": ref,
            "paypal_reference_id_type": ref_type,
            "transaction_event_code": code,
            "transaction_initiation_date": when,
            "transaction_updated_date": when,
            "transaction_amount": amount,
            "transaction_status": status,
        }
    }


def _parse_time(value: str) -> datetime:
    parsed = datetime.strptime(value.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S%z")
    return parsed


def _strip(value: Any) -> Any:
    """A copy without the fake's own bookkeeping (keys starting with "_")."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _captures(order: dict[str, Any]) -> list[dict[str, Any]]:
    unit = order["purchase_units"][0]
    captures: list[dict[str, Any]] = (unit.get("payments") or {}).get("captures") or []
    return captures


def build_app(config: FakeConfig) -> Starlette:
    fake = FakePaypal(config)
    routes = [
        Route("/v1/oauth2/token", fake.token, methods=["POST"]),
        Route("/v2/checkout/orders", fake.create_order, methods=["POST"]),
        Route("/v2/checkout/orders/{id}", fake.get_order, methods=["GET"]),
        Route("/v2/checkout/orders/{id}/capture", fake.capture_order, methods=["POST"]),
        Route("/v2/payments/captures/{id}/refund", fake.refund_capture, methods=["POST"]),
        Route("/v1/reporting/transactions", fake.search, methods=["GET"]),
        Route("/v1/notifications/verify-webhook-signature", fake.verify, methods=["POST"]),
        Route("/_fake/expire-tokens", fake.expire_tokens, methods=["POST"]),
        *fake.common_routes(),
    ]
    app = Starlette(routes=routes)
    app.state.fake = fake
    return app
