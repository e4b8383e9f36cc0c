"""PATCH /me: name, language and notification preferences; GET /me shows them."""

from __future__ import annotations

import httpx

from sichrplace.config import Settings
from sichrplace.platform.db.engines import Database
from tests.helpers.members import create_member

API = "/api/v1"


async def test_defaults_then_changes_are_stored_and_shown(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    member = await create_member(db, settings, "tenant", label="mepatch")
    r = await client.get(f"{API}/me", headers=member.headers)
    assert r.status_code == 200, r.text
    assert r.json()["language"] == "de"
    assert r.json()["notification_preferences"] == {"message": {"email": True}}

    r = await client.patch(
        f"{API}/me",
        json={
            "full_name": "  Jürgen Müller ",
            "language": "en",
            "notification_preferences": {"message": {"email": False}},
        },
        headers=member.headers,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["full_name"] == "Jürgen Müller"
    assert body["language"] == "en"
    assert body["notification_preferences"] == {"message": {"email": False}}

    # A PATCH of one field leaves the others as they are.
    r = await client.patch(f"{API}/me", json={"language": "de"}, headers=member.headers)
    assert r.status_code == 200
    again = (await client.get(f"{API}/me", headers=member.headers)).json()
    assert again["language"] == "de"
    assert again["full_name"] == "Jürgen Müller"
    assert again["notification_preferences"] == {"message": {"email": False}}


async def test_bad_values_are_422_naming_the_field(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    member = await create_member(db, settings, "tenant", label="mepatch")
    for body, field in [
        ({"language": "fr"}, "language"),
        ({"full_name": "   "}, "full_name"),
        ({"notification_preferences": {"message": {"email": "yes"}}}, "email"),
        ({"notification_preferences": {"spam": {"email": True}}}, "spam"),
    ]:
        r = await client.patch(f"{API}/me", json=body, headers=member.headers)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert field in str([e["field"] for e in r.json()["errors"]]), r.text
    me = (await client.get(f"{API}/me", headers=member.headers)).json()
    assert me["language"] == "de"
    assert (await client.patch(f"{API}/me", json={"language": "en"})).status_code == 401
