"""Payment providers: Stripe (PaymentIntents) and PayPal (Orders v2) behind one interface.

The development defaults below are the one place both sides take them from: the providers
(outside production, when nothing is configured) and the stack's fake providers
(`sichrplace.stack.fake_payments`), so the local stack's webhooks verify out of the box.
Production refuses every one of them (`platform/secrets`).
"""

from __future__ import annotations

from typing import Final

DEV_STRIPE_SECRET_KEY: Final = "sk_test_sichrplace_development_key_000000"  # noqa: S105 - development only
DEV_STRIPE_WEBHOOK_SECRET: Final = "whsec_sichrplace_development_secret_000000"  # noqa: S105 - development only
DEV_PAYPAL_CLIENT_ID: Final = "sichrplace-development-client"
DEV_PAYPAL_CLIENT_SECRET: Final = "sichrplace-development-client-secret-0000"  # noqa: S105 - development only
DEV_PAYPAL_WEBHOOK_ID: Final = "WH-SICHRPLACE-DEVELOPMENT"

# Where the providers deliver webhooks, under the public base URL (the payments router).
WEBHOOK_PATH: Final = "/api/v1/payments/webhooks/{provider}"


def webhook_url(public_base_url: str, provider: str) -> str:
    return public_base_url.rstrip("/") + WEBHOOK_PATH.format(provider=provider)
