"""Payment routes: create an intent (Idempotency-Key), receive provider webhooks, read one."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Header, Request, Response, status

from sichrplace.accounts.dependencies import CurrentUser
from sichrplace.payments import rules, service
from sichrplace.payments.errors import IDEMPOTENCY_HEADER, PaymentNotFound
from sichrplace.payments.idempotency import Stored
from sichrplace.payments.parts import PAYMENTS, PaymentsParts
from sichrplace.payments.records import PaymentRecord
from sichrplace.payments.schemas import IntentCreate, PaymentOut, WebhookAck
from sichrplace.platform.http.dependencies import PrimaryDB, part
from sichrplace.platform.http.openapi import problems

router = APIRouter(prefix="/payments", tags=["payments"])

PaymentsPartsDep = Annotated[PaymentsParts, Depends(part(PAYMENTS))]
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_HEADER,
        description="Repeat a request safely: the first response is replayed for 24 h "
        "(same key, other body: 422).",
        max_length=255,
    ),
]


def payment_document(row: PaymentRecord) -> dict[str, Any]:
    """A payment as the API shows it (JSON-ready: the Idempotency-Key store keeps it as is)."""
    return PaymentOut.model_validate(row, from_attributes=True).model_dump(mode="json")


def _json(body: Any, status_code: int, headers: dict[str, str] | None = None) -> Response:
    # Sorted keys: a replayed response (stored as jsonb, which reorders) is byte-identical.
    return Response(
        orjson.dumps(body, option=orjson.OPT_SORT_KEYS),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )


@router.post(
    "/intents",
    status_code=status.HTTP_201_CREATED,
    response_model=PaymentOut,
    responses=problems(
        401,
        402,
        404,
        409,
        422,
        503,
        s402="The provider declined the payment (`payment-declined`)",
        s404="No such viewing or contract, or not the caller's to pay",
        s409="Nothing is owed now, or a payment for it is already under way or paid",
        s422="Invalid input, an amount sent (amounts are the server's), or an "
        "Idempotency-Key reused with another body",
        s503="The payment provider is unavailable: retry after `Retry-After` seconds",
    ),
)
async def create_intent(
    body: IntentCreate,
    request: Request,
    user: CurrentUser,
    session: PrimaryDB,
    payments: PaymentsPartsDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """A payment intent for what the caller owes (the amount is the server's: the viewing fee
    by setting, the deposit from the contract). Approve it at `approval_url`; its status
    follows the provider's webhooks."""
    reference = rules.reference_of(body.purpose, body.viewing_id, body.contract_id)

    async def execute() -> Stored:
        row = await service.start_payment(
            session,
            payments,
            purpose=body.purpose,
            reference_id=reference,
            payer=user,
            idempotency_key=idempotency_key,
        )
        return Stored(status.HTTP_201_CREATED, payment_document(row))

    outcome = await payments.idempotency.run(
        session,
        user_id=user.id,
        key=idempotency_key,
        method=request.method,
        path=request.url.path,
        body=body.model_dump(mode="json", exclude_unset=True),
        execute=execute,
    )
    headers = dict(outcome.headers)
    if isinstance(outcome.body, dict) and "id" in outcome.body:
        headers["Location"] = f"{request.url.path.rsplit('/', 1)[0]}/{outcome.body['id']}"
    return _json(outcome.body, outcome.status, headers)


@router.post(
    "/webhooks/{provider}",
    response_model=WebhookAck,
    responses=problems(
        400,
        404,
        503,
        s400="Not provably the provider's (signature, timestamp, body): nothing applied",
        s404="No such provider",
        s503="The provider's verification service or the database is unavailable",
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The provider's event, verified by its signature headers "
            "(Stripe-Signature; PayPal's transmission headers)",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def receive_webhook(
    provider: str, request: Request, session: PrimaryDB, payments: PaymentsPartsDep
) -> dict[str, Any]:
    """A provider's event: verified, stored once per event id, applied with what it changes
    (the booking's confirmation, the ledger) in one transaction. A repeated event changes
    nothing and is answered 200 like the first."""
    body = await request.body()
    result = await service.apply_webhook(session, payments, provider, request.headers, body)
    return {"received": True, "result": result}


async def _payment_id(payment_id: str) -> uuid.UUID:
    """Ids are opaque: anything that is not one of ours is simply not found."""
    try:
        return uuid.UUID(payment_id)
    except ValueError:
        raise PaymentNotFound() from None


@router.get("/{payment_id}", response_model=PaymentOut, responses=problems(401, 404))
async def get_payment(
    payment_id: Annotated[uuid.UUID, Depends(_payment_id)], user: CurrentUser, session: PrimaryDB
) -> dict[str, Any]:
    """The payment, for its payer or payee (404 for everyone else)."""
    row = await service.get_payment(session, payment_id=payment_id, caller=user)
    return payment_document(row)
