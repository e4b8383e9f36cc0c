"""The viewing page's payment box keeps polling until what the page read is settled."""

from __future__ import annotations

from typing import Any

import pytest

from sichrplace.web.pages import viewings

PAYMENT_REF = "0b9c2f0e-6a54-4d1e-9a43-2f6b1c5d7e88"


class OneViewing:
    """Answers GET /viewings/<id> with a given viewing (the only call the context makes)."""

    def __init__(self, viewing: dict[str, Any]) -> None:
        self.viewing = viewing

    async def get(self, path: str) -> dict[str, Any]:
        assert path.startswith("/viewings/")
        return self.viewing


@pytest.mark.parametrize(
    ("status", "payment", "ref", "waiting"),
    [
        # Back from the provider's page, its confirmation not in yet.
        ("pending_payment", "requires_action", PAYMENT_REF, True),
        ("pending_payment", "processing", None, True),
        # The confirmation committed between reading the viewing and reading its payment.
        ("pending_payment", "succeeded", None, True),
        ("confirmed", "succeeded", PAYMENT_REF, False),
        ("pending_payment", "failed", PAYMENT_REF, False),
        # Not back from the provider: nothing to wait for.
        ("pending_payment", "requires_action", None, False),
    ],
)
async def test_waiting_until_the_viewing_and_its_payment_agree(
    status: str, payment: str, ref: str | None, waiting: bool
) -> None:
    client = OneViewing({"id": "v", "status": status, "payment": {"status": payment}})
    context = await viewings._viewing_context(client, "v", ref)  # type: ignore[arg-type]
    assert context["waiting"] is waiting
