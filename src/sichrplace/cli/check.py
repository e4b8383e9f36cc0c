"""`sichrplace check api`: schemathesis fuzzes the running stack (through nginx) against its own
OpenAPI document, once per role, with every check of the installed schemathesis.

It first gives the run something to find: a tenant, a landlord and an admin (registered
through the API; the admin promoted as `sichrplace accounts set-role` does), and a listing
with an image, whose ids the hooks (`sichrplace.cli.fuzz_hooks`) put into path parameters.
schemathesis is a dev dependency (`pip install -e '.[dev]'`).
"""

from __future__ import annotations

import asyncio
import io
import itertools
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import typer

from sichrplace.accounts import repository as repo
from sichrplace.accounts.cli import _set_role
from sichrplace.accounts.models import Role
from sichrplace.accounts.security import build_auth_runtime
from sichrplace.config import get_settings
from sichrplace.kit.clock import utcnow
from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database

app = typer.Typer(no_args_is_help=True, help="Checks against the running stack.")

ROLES = ("anonymous", "tenant", "landlord", "admin")
PASSWORD = "fuzz-Passwort-1234-lang"  # noqa: S105 - throwaway accounts of the fuzz run

# Operations left out of the run until the fix named beside each is on main (see the report
# of the run in docs/api.md). Each entry: a schemathesis --exclude-path-regex pattern.
TEMPORARY_EXCLUSIONS: tuple[tuple[str, str], ...] = ()
# Checks left out until the fix named beside each is on main.
TEMPORARY_EXCLUDED_CHECKS: tuple[tuple[str, str], ...] = ()
# schemathesis options left at a narrower setting until the fix named beside each is on main.
TEMPORARY_OPTIONS: tuple[tuple[tuple[str, ...], str], ...] = ()
# Per-operation check settings (business rules JSON Schema cannot state): see the file.
# Served only on the instances' own ports (nginx refuses them at the public entry point).
INTERNAL_PATHS = "^/api/v1/admin/"
CONFIG_FILE = Path(__file__).resolve().parents[3] / "schemathesis.toml"


@dataclass(frozen=True, slots=True)
class FuzzData:
    tokens: dict[str, str]
    listing_id: str
    image_id: str
    user_id: str


def _png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(out, format="PNG")
    return out.getvalue()


async def _issue_access_token(email: str) -> str:
    """A session issued as a login issues it, for when this address may not log in now."""
    settings = get_settings()
    auth = build_auth_runtime(settings)
    db = Database(settings.db)
    try:
        async with transaction(db) as session:
            user = await repo.get_user_by_email(session, email)
            assert user is not None
            family_id = await repo.insert_family(session, user.id)
            return auth.access_tokens.issue(
                user_id=user.id,
                email=user.email,
                role=user.role,
                session_id=family_id,
                now=utcnow(),
            )
    finally:
        await db.dispose()


def _login(client: httpx.Client, email: str) -> str:
    r = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    if r.status_code == 429:
        # An earlier run's failed logins (every fuzz request comes from this address) still
        # fill the per-address window of the login throttle.
        return asyncio.run(_issue_access_token(email))
    r.raise_for_status()
    token: str = r.json()["access_token"]
    return token


def prepare(base_url: str) -> FuzzData:
    """Users of every role and a listing with an image, made through the API."""
    run = uuid.uuid4().hex[:10]
    tokens: dict[str, str] = {}
    user_id = ""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for role in ("tenant", "landlord", "admin"):
            email = f"fuzz-{role}-{run}@example.com"
            r = client.post(
                "/api/v1/auth/register",
                json={
                    "email": email,
                    "password": PASSWORD,
                    "full_name": f"Fuzz {role.title()}",
                    "role": "tenant" if role == "admin" else role,
                },
            )
            r.raise_for_status()
            user_id = r.json()["id"] if role == "tenant" else user_id
            if role == "admin":
                assert asyncio.run(_set_role(email, Role.ADMIN)) is not None
            tokens[role] = _login(client, email)
        landlord = {"Authorization": f"Bearer {tokens['landlord']}"}
        r = client.post(
            "/api/v1/listings",
            headers=landlord,
            json={
                "title": "Helle 2-Zimmer-Wohnung",
                "street": "Musterstraße",
                "house_number": "1",
                "postal_code": "10115",
                "city": "Berlin",
                "cold_rent_cents": 90_000,
                "utilities_cents": 20_000,
                "deposit_cents": 180_000,
                "rooms": 2,
                "size_sqm": 55,
            },
        )
        r.raise_for_status()
        listing_id = r.json()["id"]
        r = client.post(
            f"/api/v1/listings/{listing_id}/images",
            headers=landlord,
            files={"file": ("flat.png", _png(), "image/png")},
        )
        r.raise_for_status()
        image_id = r.json()["id"]
    return FuzzData(tokens, listing_id, image_id, user_id)


def run(
    *,
    max_examples: int,
    seed: int | None = None,
    workers: int = 1,
    report_dir: Path | None = None,
) -> int:
    """Fuzz every operation as each role; 0 when schemathesis found nothing. Without `seed`
    the generation is deterministic (the same cases every run); a seed varies them
    reproducibly."""
    settings = get_settings()
    base_url = f"http://127.0.0.1:{settings.stack.nginx_port}"
    exe = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if exe is None:
        raise RuntimeError("schemathesis is not installed: pip install -e '.[dev]'")
    data = prepare(base_url)
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "sichrplace.cli.fuzz_hooks",
        "SICHRPLACE_FUZZ_LISTING_ID": data.listing_id,
        "SICHRPLACE_FUZZ_IMAGE_ID": data.image_id,
        "SICHRPLACE_FUZZ_USER_ID": data.user_id,
    }
    # The administration routes are internal (nginx answers 404 for them): they are fuzzed on
    # an API instance's own port, everything else through the public entry point.
    internal_url = f"http://127.0.0.1:{settings.stack.api_base_port}"
    targets = (
        ("", base_url, ["--exclude-path-regex", INTERNAL_PATHS]),
        (" (internal routes)", internal_url, ["--include-path-regex", INTERNAL_PATHS]),
    )
    failed = 0
    for role, (label, url, paths) in itertools.product(ROLES, targets):
        cmd = [
            exe,
            "--config-file",
            str(CONFIG_FILE),
            "run",
            f"{base_url}/openapi.json",
            "--url",
            url,
            *paths,
            "--checks",
            "all",
            "--max-examples",
            str(max_examples),
            *(["--generation-deterministic"] if seed is None else ["--seed", str(seed)]),
            "--workers",
            str(workers),
            "--phases",
            "examples,coverage,fuzzing",
            "--no-color",
            "--warnings",
            "off",
            "--request-timeout",
            "20",
        ]
        if role != "anonymous":
            cmd += ["--header", f"Authorization: Bearer {data.tokens[role]}"]
        for options, _why in TEMPORARY_OPTIONS:
            cmd += list(options)
        for check, _why in TEMPORARY_EXCLUDED_CHECKS:
            cmd += ["--exclude-checks", check]
        for pattern, _reason in TEMPORARY_EXCLUSIONS:
            cmd += ["--exclude-path-regex", pattern]
        if report_dir is not None:
            where = role + ("-internal" if label else "")
            cmd += ["--report", "junit", "--report-dir", str(report_dir / where)]
        typer.echo(f"== schemathesis as {role}{label}")
        failed |= subprocess.run(cmd, env=env, check=False).returncode
    return failed


@app.command("api")
def check_api(
    max_examples: int = typer.Option(50, help="test cases per operation and role"),
    seed: int | None = typer.Option(
        None, help="vary the cases reproducibly with this seed (default: deterministic cases)"
    ),
    workers: int = typer.Option(1, help="concurrent schemathesis workers"),
) -> None:
    """Fuzz the running stack's API (through nginx) against its OpenAPI document."""
    raise typer.Exit(run(max_examples=max_examples, seed=seed, workers=workers))
