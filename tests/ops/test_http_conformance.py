"""Answers the API document promises (in-process app): 415 for a JSON body sent as another
media type, Allow naming every method of a path, inputs taken as the schema types them."""

from __future__ import annotations

import httpx

API = "/api/v1"


async def test_a_json_body_sent_as_text_is_415_problem(client: httpx.AsyncClient) -> None:
    r = await client.post(
        f"{API}/auth/login",
        content=b'{"email": "a@example.com", "password": "x"}',
        headers={"content-type": "text/plain"},
    )
    assert r.status_code == 415
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("/unsupported-media-type")
    assert r.json()["errors"] == [{"field": "body", "message": "muss application/json sein"}]


async def test_a_form_body_is_415_but_a_json_suffix_type_is_read(
    client: httpx.AsyncClient,
) -> None:
    form = await client.post(f"{API}/auth/login", data={"email": "a@example.com"})
    assert form.status_code == 415
    # A missing body with no media type stays a validation problem.
    assert (await client.post(f"{API}/auth/login")).status_code == 422
    suffixed = await client.post(
        f"{API}/auth/login",
        content=b'{"email": "nobody@example.com"}',
        headers={"content-type": "application/merge-patch+json"},
    )
    assert suffixed.status_code == 422
    assert {e["field"] for e in suffixed.json()["errors"]} == {"password"}


async def test_405_allow_names_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    r = await client.request("PUT", f"{API}/listings/00000000-0000-0000-0000-000000000000")
    assert r.status_code == 405
    assert r.headers["allow"] == "DELETE, GET, PATCH"
    assert r.headers["content-type"] == "application/problem+json"
    images = await client.request("PUT", f"{API}/listings/x/images")
    assert images.headers["allow"] == "GET, POST"


async def test_a_number_is_not_a_day(client: httpx.AsyncClient) -> None:
    r = await client.get(f"{API}/search/listings", params={"available_from": "0"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "available_from"
    ok = await client.get(f"{API}/search/listings", params={"available_from": "2026-01-01"})
    assert ok.status_code == 200
