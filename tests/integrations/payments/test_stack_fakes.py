"""The local stack runs both fake providers (programs stripe-fake and paypal-fake)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from sichrplace.config import Settings
from sichrplace.integrations.payments import DEV_STRIPE_SECRET_KEY

pytestmark = pytest.mark.stack


def test_status_lists_the_fakes_with_their_ports(settings: Settings) -> None:
    cli = str(Path(sys.executable).parent / "sichrplace")
    out = subprocess.run([cli, "stack", "status"], capture_output=True, text=True, check=True)
    lines = {line.split()[0]: line for line in out.stdout.splitlines() if line.strip()}
    for name, port in (
        ("stripe-fake", settings.stack.stripe_fake_port),
        ("paypal-fake", settings.stack.paypal_fake_port),
    ):
        assert "RUNNING" in lines[name], out.stdout
        assert f"127.0.0.1:{port}" in lines[name]


@pytest.mark.parametrize("provider", ["stripe", "paypal"])
def test_the_fakes_answer_on_their_ports(settings: Settings, provider: str) -> None:
    port = getattr(settings.stack, f"{provider}_fake_port")
    health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    assert health.json() == {"status": "ok", "provider": provider}


def test_stack_stripe_fake_speaks_stripe_with_the_development_key(settings: Settings) -> None:
    base = f"http://127.0.0.1:{settings.stack.stripe_fake_port}"
    # The API's default base URL outside production is this fake.
    assert settings.payments.stripe_api_base == base
    refused = httpx.get(f"{base}/v1/payment_intents/pi_missing", timeout=5)
    assert refused.status_code == 401
    missing = httpx.get(
        f"{base}/v1/payment_intents/pi_missing",
        headers={"Authorization": f"Bearer {DEV_STRIPE_SECRET_KEY}"},
        timeout=5,
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "resource_missing"
