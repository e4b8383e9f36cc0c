"""What the pages of the tenant's journey share (viewings, messages, contracts): form values,
ids in API paths, listings looked up for their titles, forms safe to submit twice, and the
trip to the payment provider's approval page and back.

The provider sends the payer back to one fixed URL (`payments.return_path` under the public
base URL, the same for every payment), so the page that sends the payer there remembers in a
short-lived cookie what is being paid; the return route reads it and opens that viewing's or
contract's page, which shows the payment's state until the provider's webhook has confirmed
it.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from sichrplace.platform.http.dependencies import parts_of
from sichrplace.web.client import ApiClient, ApiProblem
from sichrplace.web.pages.base import Page, redirect

PAY_COOKIE = "sp_paying"
PAY_COOKIE_SECONDS = 2 * 3600  # longer than any payment window
# A form's own key (hidden field): letters, digits, dashes; anything else is replaced.
_KEY = re.compile(r"^[A-Za-z0-9_-]{8,80}$")
# A payment the payer may still approve, or one the provider is still completing.
OPEN_PAYMENT = frozenset({"requires_action", "processing"})


def text_of(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def segment(value: str) -> str:
    """An id as one path segment of an API call (the API answers 404 for what is not one)."""
    return quote(value, safe="")


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def new_key() -> str:
    """A key for one rendering of a form (idempotency key, client message id)."""
    return str(uuid.uuid4())


def form_key(form: FormData, name: str = "idempotency_key") -> str:
    """The Idempotency-Key of a form's API call: the key the form was rendered with, so a
    second submit of the same form is the same request (one booking, one payment)."""
    sent = text_of(form, name)
    return f"web-{sent}" if _KEY.match(sent) else f"web-{new_key()}"


def for_the_form(problem: ApiProblem) -> bool:
    """A refusal the form shows next to its fields (bad input, a conflict, the provider
    unavailable for now); others become the error page, or the login page (401)."""
    return problem.status == 503 or (
        400 <= problem.status < 500 and problem.status not in (401, 404)
    )


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def user_agent(request: Request) -> dict[str, str]:
    """The browser's User-Agent for API calls whose audit trail records it (contracts)."""
    agent = request.headers.get("user-agent")
    return {"User-Agent": agent} if agent else {}


async def listing_of(client: ApiClient, listing_id: str) -> dict[str, Any] | None:
    """The listing as the viewer may see it; None once it is gone (archived, deleted)."""
    try:
        found: dict[str, Any] = await client.get(f"/listings/{segment(listing_id)}")
    except ApiProblem as problem:
        if problem.status in (404, 410):
            return None
        raise
    return found


async def listings_of(client: ApiClient, ids: Iterable[str]) -> dict[str, dict[str, Any] | None]:
    """Several listings by id, fetched side by side."""
    wanted = sorted(set(ids))
    found = await asyncio.gather(*(listing_of(client, listing_id) for listing_id in wanted))
    return dict(zip(wanted, found, strict=True))


def listing_path(listing_id: str) -> str:
    """The listing's page (it redirects to its canonical URL with the German slug)."""
    return f"/wohnung/{segment(listing_id)}"


# --- the provider's approval page and back --------------------------------------------------


def pay_cookie(request: Request) -> str:
    secure = parts_of(request).settings.web.secure_cookies
    return ("__Host-" if secure else "") + PAY_COOKIE


def to_provider(
    request: Request, made: Page, payment: Mapping[str, Any], *, kind: str, ref: str
) -> Response | None:
    """303 to the provider's approval page of `payment` (for `kind` "viewing" or "contract"
    `ref`), remembering it for the return; None when there is nothing to approve."""
    url = payment.get("approval_url")
    if not url or payment.get("status") != "requires_action":
        return None
    value = f"{kind}:{ref}:{payment.get('id')}"
    made.viewer.cookies.append((pay_cookie(request), value, PAY_COOKIE_SECONDS))
    return redirect(request, made, str(url))


def returned_to(request: Request) -> str:
    """Where the payer goes back to: the page of what they were paying for, with the payment
    (`?zahlung=<id>`, the page then waits for its confirmation), else their viewings."""
    kind, _, rest = (request.cookies.get(pay_cookie(request)) or "").partition(":")
    ref, _, payment_id = rest.partition(":")
    if not (is_uuid(ref) and is_uuid(payment_id)):
        return "/besichtigungen"
    base = {"viewing": "/besichtigungen/", "contract": "/vertraege/"}.get(kind)
    return f"{base}{ref}?zahlung={payment_id}" if base else "/besichtigungen"
