"""`sichrplace fakes`: run a local fake payment provider (the stack's stripe-fake/paypal-fake)."""

from __future__ import annotations

from typing import Literal

import typer
import uvicorn

from sichrplace.config import get_settings
from sichrplace.integrations.payments import webhook_url
from sichrplace.platform.observability.logging import configure_logging
from sichrplace.stack.fake_payments import paypal, stripe
from sichrplace.stack.fake_payments.common import FakeConfig

app = typer.Typer(no_args_is_help=True, help="Local fake payment providers.")


def _run(provider: Literal["stripe", "paypal"], host: str, port: int, hook: str | None) -> None:
    settings = get_settings()
    configure_logging(settings.log)
    config = FakeConfig(
        webhook_url=hook or webhook_url(settings.app.public_base_url, provider),
        public_url=f"http://{host}:{port}",
    )
    build = stripe.build_app if provider == "stripe" else paypal.build_app
    typer.echo(f"fake {provider} on http://{host}:{port}, webhooks to {config.webhook_url}")
    uvicorn.run(build(config), host=host, port=port, log_level="warning", access_log=False)


@app.command("stripe")
def run_stripe(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int | None = typer.Option(None, "--port", help="Default: the stack's stripe port."),
    hook: str | None = typer.Option(
        None, "--webhook-url", help="Default: <public base URL>/api/v1/payments/webhooks/stripe"
    ),
) -> None:
    """A fake Stripe (PaymentIntents, Refunds, signed webhooks, an approval page)."""
    _run("stripe", host, port or get_settings().stack.stripe_fake_port, hook)


@app.command("paypal")
def run_paypal(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int | None = typer.Option(None, "--port", help="Default: the stack's paypal port."),
    hook: str | None = typer.Option(
        None, "--webhook-url", help="Default: <public base URL>/api/v1/payments/webhooks/paypal"
    ),
) -> None:
    """A fake PayPal (OAuth, Orders v2, refunds, webhooks and their verification)."""
    _run("paypal", host, port or get_settings().stack.paypal_fake_port, hook)
