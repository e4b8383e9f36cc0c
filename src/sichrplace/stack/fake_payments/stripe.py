"""A fake Stripe: PaymentIntents, Refunds and signed webhooks, in Stripe's wire format.

API (`Authorization: Bearer <config.secret_key>`, form-encoded bodies, JSON answers):
  POST /v1/payment_intents · GET /v1/payment_intents/{id} · GET /v1/payment_intents
  (created[gt], limit, starting_after, has_more; newest first) · POST /v1/refunds.
`expand[]=latest_charge` / `expand[]=data.latest_charge` inline the charge.
Idempotency as Stripe documents it: a POST's `Idempotency-Key` stores the first answer
(errors included, but not a 500/429 that came before execution); the same key with the same
parameters replays it (`Idempotent-Replayed: true`), with other parameters -> 400
`idempotency_error`. A confirmed intent with a redirect method is `requires_action` with
`next_action.redirect_to_url.url` = this fake's approval page.
Webhooks: `Stripe-Signature: t=..,v1=..` with `config.webhook_secret`, a fresh t per attempt
(payment_intent.succeeded / .payment_failed, charge.refunded).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sichrplace.integrations.payments.stripe import API_VERSION, signature_header
from sichrplace.stack.fake_payments.common import (
    Checkout,
    FakeConfig,
    FakeProvider,
    Fault,
    Op,
    json_response,
    now_unix,
    random_id,
)

MIN_AMOUNT_CENTS = 50  # Stripe's minimum charge in EUR


def _error(status: int, type_: str, message: str, **extra: Any) -> Response:
    return json_response({"error": {"type": type_, "message": message, **extra}}, status)


def _expand(request: Request) -> list[str]:
    """`expand[]=x` and `expand[0]=x` (stripe-python's form) both name what to inline."""
    return [
        v for k, v in request.query_params.multi_items() if k == "expand" or k.startswith("expand[")
    ]


def parse_form(body: bytes) -> dict[str, Any]:
    """`a[b]=1&c[0]=x&c[1]=y&d[]=z` -> {"a": {"b": "1"}, "c": ["x", "y"], "d": ["z"]}."""
    out: dict[str, Any] = {}
    for key, value in parse_qsl(body.decode(), keep_blank_values=True):
        name, _, rest = key.partition("[")
        if not rest:
            out[name] = value
            continue
        inner = rest.rstrip("]")
        if inner == "" or inner.isdigit():
            out.setdefault(name, []).append(value)
        else:
            out.setdefault(name, {})[inner] = value
    return out


class FakeStripe(FakeProvider):
    provider = "stripe"

    def __init__(self, config: FakeConfig) -> None:
        super().__init__(config)
        self.intents: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self._order: list[str] = []  # intent ids, oldest first
        self._idempotent: dict[str, tuple[str, int, bytes]] = {}

    # --- signing, checkout ------------------------------------------------------------
    def sign(self, body: bytes) -> dict[str, str]:
        return {
            "Stripe-Signature": signature_header(self.config.webhook_secret, body, now_unix()),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }

    def checkout(self, ref: str) -> Checkout | None:
        pi = self.intents.get(ref)
        if pi is None:
            return None
        state = {"requires_action": "open", "succeeded": "approved"}.get(pi["status"], "declined")
        return Checkout(
            pi["amount"],
            pi["currency"],
            pi.get("description") or "",
            state,
            pi.get("_return_url"),
        )

    def return_url_for(self, ref: str, approved: bool) -> str | None:
        pi = self.intents[ref]
        if not pi.get("_return_url"):
            return None
        query = urlencode(
            {
                "payment_intent": ref,
                "payment_intent_client_secret": pi["client_secret"],
                "redirect_status": "succeeded" if approved else "failed",
            }
        )
        sep = "&" if "?" in pi["_return_url"] else "?"
        return f"{pi['_return_url']}{sep}{query}"

    # --- state changes ----------------------------------------------------------------
    def _event(self, event_type: str, obj: dict[str, Any]) -> None:
        event_id = random_id("evt_")
        payload = {
            "id": event_id,
            "object": "event",
            "api_version": API_VERSION,
            "created": now_unix(),
            "data": {"object": obj},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        }
        self.outbox.emit(event_id, event_type, obj.get("payment_intent") or obj["id"], payload)

    def approve(self, ref: str) -> dict[str, Any] | None:
        pi = self.intents.get(ref)
        if pi is None:
            return None
        if pi["status"] != "requires_action":
            return self.public_intent(pi)
        charge_id = random_id("ch_")
        self.charges[charge_id] = {
            "id": charge_id,
            "object": "charge",
            "amount": pi["amount"],
            "amount_captured": pi["amount"],
            "amount_refunded": 0,
            "currency": pi["currency"],
            "created": now_unix(),
            "paid": True,
            "payment_intent": ref,
            "refunded": False,
            "status": "succeeded",
            "refunds": {"object": "list", "data": [], "has_more": False},
        }
        pi.update(
            status="succeeded",
            amount_received=pi["amount"],
            latest_charge=charge_id,
            next_action=None,
        )
        self._event("payment_intent.succeeded", self.public_intent(pi))
        return self.public_intent(pi)

    def decline(self, ref: str) -> dict[str, Any] | None:
        pi = self.intents.get(ref)
        if pi is None:
            return None
        if pi["status"] != "requires_action":
            return self.public_intent(pi)
        pi.update(
            status="requires_payment_method",
            next_action=None,
            last_payment_error={
                "type": "card_error",
                "code": "payment_intent_authentication_failure",
                "message": "Der Zahler hat die Zahlung abgelehnt.",
            },
        )
        self._event("payment_intent.payment_failed", self.public_intent(pi))
        return self.public_intent(pi)

    def public_intent(self, pi: dict[str, Any], expand: bool = False) -> dict[str, Any]:
        shown = {k: v for k, v in pi.items() if not k.startswith("_")}
        if expand and shown.get("latest_charge"):
            shown["latest_charge"] = self.charges[shown["latest_charge"]]
        return shown

    def fault_response(self, op: Op, fault: Fault) -> Response:
        if fault == "http_500":
            return _error(500, "api_error", "An unknown error occurred on Stripe's servers.")
        if fault == "rate_limit":
            return _error(
                429,
                "invalid_request_error",
                "Too many requests hit the API too quickly.",
                code="rate_limit",
            )
        if op == "refund":
            return _error(
                400,
                "invalid_request_error",
                "This charge has been disputed.",
                code="charge_disputed",
            )
        return _error(
            402,
            "card_error",
            "Your card was declined.",
            code="card_declined",
            decline_code="generic_decline",
        )

    # --- API ----------------------------------------------------------------------------
    def _authorized(self, request: Request) -> Response | None:
        self.public(request)
        if request.headers.get("authorization") == f"Bearer {self.config.secret_key}":
            return None
        return _error(
            401,
            "invalid_request_error",
            "Invalid API Key provided: sk_test_****",
        )

    async def _idempotent_post(self, request: Request, op: Op, execute: Any) -> Response:
        denied = self._authorized(request)
        if denied:
            return denied
        raw = await request.body()
        params = parse_form(raw)
        key = request.headers.get("idempotency-key")
        if not key:
            return await self.with_faults(
                op, lambda declined: execute(params, declined), decides_decline=True
            )
        fingerprint = f"{request.url.path}?{sorted(parse_qsl(raw.decode()))}"

        async def run(declined: bool) -> Response:
            async with self.lock(f"idem:{key}"):
                stored = self._idempotent.get(key)
                if stored is not None:
                    if stored[0] != fingerprint:
                        return _error(
                            400,
                            "idempotency_error",
                            "Keys for idempotent requests can only be used with the same "
                            f"parameters they were first used with. Try using a key other than "
                            f"'{key}' if you meant to execute a different request.",
                        )
                    return Response(
                        stored[2],
                        stored[1],
                        media_type="application/json",
                        headers={"Idempotent-Replayed": "true", "Idempotency-Key": key},
                    )
                response: Response = await execute(params, declined)
                # Stripe saves what executed (a decline too), not a request that failed
                # validation: that one may be corrected and sent again with the same key.
                if response.status_code < 400 or response.status_code == 402:
                    self._idempotent[key] = (
                        fingerprint,
                        response.status_code,
                        bytes(response.body),
                    )
                response.headers["Idempotency-Key"] = key
                return response

        return await self.with_faults(op, run, decides_decline=True)

    async def create_intent(self, request: Request) -> Response:
        return await self._idempotent_post(request, "create", self._create)

    async def _create(self, params: dict[str, Any], declined: bool) -> Response:
        try:
            amount = int(params.get("amount", ""))
        except ValueError:
            return _error(
                400,
                "invalid_request_error",
                "Missing required param: amount.",
                code="parameter_missing",
                param="amount",
            )
        if amount < MIN_AMOUNT_CENTS:
            return _error(
                400,
                "invalid_request_error",
                "Amount must be at least €0.50 eur",
                code="amount_too_small",
                param="amount",
            )
        currency = str(params.get("currency", "")).lower()
        if not currency:
            return _error(
                400,
                "invalid_request_error",
                "Missing required param: currency.",
                code="parameter_missing",
                param="currency",
            )
        confirm = params.get("confirm") == "true"
        return_url = params.get("return_url")
        if confirm and not return_url:
            return _error(
                400,
                "invalid_request_error",
                "A return_url must be specified because this Payment Intent is "
                "configured to automatically accept the payment methods enabled in "
                "the Dashboard, some of which may require a full page redirect.",
                code="parameter_missing",
                param="return_url",
            )
        pi_id = random_id("pi_")
        pi: dict[str, Any] = {
            "id": pi_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": 0,
            "capture_method": "automatic",
            "client_secret": f"{pi_id}_secret_{random_id('', 20)}",
            "created": now_unix(),
            "currency": currency,
            "description": params.get("description"),
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": params.get("metadata") or {},
            "next_action": None,
            "payment_method_types": params.get("payment_method_types") or ["card"],
            "status": "requires_payment_method",
            "_return_url": return_url,
        }
        self.intents[pi_id] = pi
        self._order.append(pi_id)
        if declined:
            pi["last_payment_error"] = {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": "generic_decline",
                "message": "Your card was declined.",
            }
            self._event("payment_intent.payment_failed", self.public_intent(pi))
            return _error(
                402,
                "card_error",
                "Your card was declined.",
                code="card_declined",
                decline_code="generic_decline",
                payment_intent=self.public_intent(pi),
            )
        if confirm:
            pi["status"] = "requires_action"
            pi["next_action"] = {
                "type": "redirect_to_url",
                "redirect_to_url": {
                    "url": f"{self.base_url}/checkout/{pi_id}",
                    "return_url": return_url,
                },
            }
        return json_response(self.public_intent(pi))

    async def get_intent(self, request: Request) -> Response:
        denied = self._authorized(request)
        if denied:
            return denied
        pi_id = request.path_params["id"]

        async def run(declined: bool) -> Response:
            pi = self.intents.get(pi_id)
            if pi is None:
                return _error(
                    404,
                    "invalid_request_error",
                    f"No such payment_intent: '{pi_id}'",
                    code="resource_missing",
                    param="intent",
                )
            expand = "latest_charge" in _expand(request)
            return json_response(self.public_intent(pi, expand))

        return await self.with_faults("get", run)

    async def list_intents(self, request: Request) -> Response:
        denied = self._authorized(request)
        if denied:
            return denied
        q = request.query_params

        async def run(declined: bool) -> Response:
            limit = max(1, min(100, int(q.get("limit") or 10)))
            gt = int(q.get("created[gt]") or 0)
            newest_first = [self.intents[i] for i in reversed(self._order)]
            items = [pi for pi in newest_first if pi["created"] > gt]
            after = q.get("starting_after")
            if after:
                ids = [pi["id"] for pi in items]
                if after not in ids:
                    return _error(
                        400,
                        "invalid_request_error",
                        f"No such payment_intent: '{after}'",
                        param="starting_after",
                    )
                items = items[ids.index(after) + 1 :]
            expand = "data.latest_charge" in _expand(request)
            page = items[:limit]
            return json_response(
                {
                    "object": "list",
                    "data": [self.public_intent(pi, expand) for pi in page],
                    "has_more": len(items) > limit,
                    "url": "/v1/payment_intents",
                }
            )

        return await self.with_faults("list", run)

    async def create_refund(self, request: Request) -> Response:
        return await self._idempotent_post(request, "refund", self._refund)

    async def _refund(self, params: dict[str, Any], declined: bool) -> Response:
        if declined:
            return self.fault_response("refund", "decline")
        pi_id = params.get("payment_intent")
        pi = self.intents.get(str(pi_id))
        if pi is None:
            return _error(
                400,
                "invalid_request_error",
                f"No such payment_intent: '{pi_id}'",
                code="resource_missing",
                param="payment_intent",
            )
        if pi["status"] != "succeeded":
            return _error(
                400,
                "invalid_request_error",
                "This PaymentIntent does not have a successful charge to refund.",
                code="charge_not_refundable",
            )
        charge = self.charges[pi["latest_charge"]]
        remaining = charge["amount"] - charge["amount_refunded"]
        if remaining <= 0:
            return _error(
                400,
                "invalid_request_error",
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
            )
        amount = int(params.get("amount") or remaining)
        if amount > remaining:
            return _error(
                400,
                "invalid_request_error",
                f"Refund amount ({amount}) is greater than unrefunded amount on "
                f"charge ({remaining})",
                code="amount_too_large",
                param="amount",
            )
        refund_id = random_id("re_")
        refund = {
            "id": refund_id,
            "object": "refund",
            "amount": amount,
            "charge": charge["id"],
            "created": now_unix(),
            "currency": pi["currency"],
            "metadata": params.get("metadata") or {},
            "payment_intent": pi["id"],
            "status": "succeeded",
        }
        self.refunds[refund_id] = refund
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        charge["refunds"]["data"].insert(0, refund)
        self._event("charge.refunded", charge)
        return json_response(refund)

    async def capture_intent(self, request: Request) -> Response:
        """`POST /v1/payment_intents/{id}/capture`: only for manual capture (not used by us)."""
        denied = self._authorized(request)
        if denied:
            return denied

        async def run(declined: bool) -> Response:
            pi = self.intents.get(request.path_params["id"])
            if pi is None:
                return _error(
                    404, "invalid_request_error", "No such payment_intent", code="resource_missing"
                )
            return _error(
                400,
                "invalid_request_error",
                "This PaymentIntent could not be captured because it has a status "
                f"of {pi['status']}.",
                code="payment_intent_unexpected_state",
            )

        return await self.with_faults("capture", run)


def build_app(config: FakeConfig) -> Starlette:
    fake = FakeStripe(config)
    routes = [
        Route("/v1/payment_intents", fake.create_intent, methods=["POST"]),
        Route("/v1/payment_intents", fake.list_intents, methods=["GET"]),
        Route("/v1/payment_intents/{id}", fake.get_intent, methods=["GET"]),
        Route("/v1/payment_intents/{id}/capture", fake.capture_intent, methods=["POST"]),
        Route("/v1/refunds", fake.create_refund, methods=["POST"]),
        *fake.common_routes(),
    ]
    app = Starlette(routes=routes)
    app.state.fake = fake
    return app
