"""The language of problems: the caller's stored language, else Accept-Language, else German;
titles, details and field messages all in it, said in Content-Language (docs/api.md)."""

from __future__ import annotations

import uuid

import httpx

from sichrplace.config import Settings
from sichrplace.platform.db.engines import Database
from tests.helpers.members import create_member

API = "/api/v1"


def _missing_listing() -> str:
    return f"{API}/listings/{uuid.uuid4()}"


async def test_an_anonymous_problem_is_german_by_default(client: httpx.AsyncClient) -> None:
    r = await client.get(_missing_listing())
    assert r.status_code == 404
    assert r.headers["content-language"] == "de"
    problem = r.json()
    assert (problem["title"], problem["detail"]) == (
        "Nicht gefunden",
        "Diese Anzeige gibt es nicht.",
    )
    assert problem["type"] == "https://sichrplace.de/problems/listing-not-found"  # unchanged


async def test_accept_language_chooses_english_before_login(client: httpx.AsyncClient) -> None:
    r = await client.get(_missing_listing(), headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert r.status_code == 404
    assert r.headers["content-language"] == "en"
    assert (r.json()["title"], r.json()["detail"]) == ("Not Found", "No such listing.")
    # q-values count: German preferred over English.
    r = await client.get(_missing_listing(), headers={"Accept-Language": "en;q=0.4, de;q=0.8"})
    assert r.json()["detail"] == "Diese Anzeige gibt es nicht."
    # Neither language named: German.
    r = await client.get(_missing_listing(), headers={"Accept-Language": "fr-FR, it;q=0.5"})
    assert r.headers["content-language"] == "de"


async def test_validation_messages_are_translated_and_fields_kept(
    client: httpx.AsyncClient,
) -> None:
    bad = {"limit": "0", "min_rooms": "many"}
    r = await client.get(f"{API}/search/listings", params=bad)
    assert r.status_code == 422
    assert r.headers["content-language"] == "de"
    problem = r.json()
    assert problem["title"] == "Ungültige Eingabe"
    assert {e["field"]: e["message"] for e in problem["errors"]} == {
        "limit": "muss mindestens 1 sein",
        "min_rooms": "muss eine Zahl sein",
    }
    r = await client.get(f"{API}/search/listings", params=bad, headers={"Accept-Language": "en"})
    assert {e["field"]: e["message"] for e in r.json()["errors"]} == {
        "limit": "must be at least 1",
        "min_rooms": "must be a number",
    }
    assert r.json()["title"] == "Invalid input"


async def test_a_rule_of_the_platform_answers_in_the_language_too(
    client: httpx.AsyncClient,
) -> None:
    """Problems answered by the middleware (text Postgres cannot hold) before any route."""
    r = await client.get(f"{API}/search/listings?q=%00", headers={"Accept-Language": "en"})
    assert r.status_code == 422
    assert r.json()["errors"] == [{"field": "q", "message": "must not contain a NUL character"}]
    r = await client.get(f"{API}/search/listings?q=%00")
    assert r.json()["errors"] == [{"field": "q", "message": "darf kein NUL-Zeichen enthalten"}]
    assert r.headers["content-language"] == "de"


async def test_a_signed_in_users_language_wins_over_accept_language(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    english = await create_member(db, settings, "tenant", label="lang-en", language="en")
    r = await client.get(_missing_listing(), headers={**english.headers, "Accept-Language": "de"})
    assert r.status_code == 404
    assert r.headers["content-language"] == "en"
    assert r.json()["detail"] == "No such listing."
    # Also for a role the caller lacks (403 from the authentication dependency itself).
    r = await client.post(
        f"{API}/listings", json={}, headers={**english.headers, "Accept-Language": "de"}
    )
    assert r.status_code == 403
    assert r.json()["title"] == "Forbidden"


async def test_a_language_change_holds_from_the_next_request(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    member = await create_member(db, settings, "tenant", label="lang-switch")
    german = {**member.headers, "Accept-Language": "en"}
    r = await client.get(_missing_listing(), headers=german)
    assert r.json()["detail"] == "Diese Anzeige gibt es nicht."  # stored 'de' (now cached)
    patched = await client.patch(f"{API}/me", json={"language": "en"}, headers=member.headers)
    assert patched.status_code == 200, patched.text
    r = await client.get(_missing_listing(), headers={**member.headers, "Accept-Language": "de"})
    assert r.json()["detail"] == "No such listing."
    await client.patch(f"{API}/me", json={"language": "de"}, headers=member.headers)
    r = await client.get(_missing_listing(), headers=german)
    assert r.json()["detail"] == "Diese Anzeige gibt es nicht."


async def test_registration_keeps_the_requests_language(ip_client: httpx.AsyncClient) -> None:
    email = f"lang-{uuid.uuid4().hex[:12]}@example.com"
    body = {"email": email, "password": "Kx7-vier-Hunde", "full_name": "Ann Lee", "role": "tenant"}
    r = await ip_client.post(
        f"{API}/auth/register", json=body, headers={"Accept-Language": "en-US"}
    )
    assert r.status_code == 201, r.text
    login = await ip_client.post(
        f"{API}/auth/login", json={"email": email, "password": body["password"]}
    )
    token = login.json()["access_token"]
    me = await ip_client.get(f"{API}/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["language"] == "en"
