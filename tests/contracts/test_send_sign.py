"""Sending freezes the PDF (its SHA-256 is what both sign); signing needs that hash, once per
party: sent → partially_signed → fully_signed; emails, the counter and the spans."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from sichrplace.platform.db.engines import Database
from sichrplace.platform.observability import business, tracing
from tests.contracts.conftest import (
    API,
    MakeDeal,
    count,
    create_contract,
    field_names,
    send,
    sha256,
    sign,
    sign_body,
)
from tests.helpers.mailbox import wait_for_mail
from tests.helpers.members import set_language
from tests.unit.contracts.pdftext import text_of


async def test_send_freezes_the_document(client: httpx.AsyncClient, make_deal: MakeDeal) -> None:
    deal = await make_deal("confirmed")
    contract = await create_contract(client, deal)
    sent = await send(client, deal, contract["id"])
    assert sent["status"] == "sent"
    assert sent["sent_at"] is not None
    sha = sent["document_sha256"]
    assert len(sha) == 64
    for party in (deal.tenant, deal.landlord):
        r = await client.get(f"{API}/contracts/{contract['id']}/document", headers=party.headers)
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/pdf"
        assert r.content.startswith(b"%PDF-")
        assert sha256(r.content) == sha  # the downloaded bytes are the frozen document
        assert r.headers["x-document-sha256"] == sha
        assert r.headers["x-document-frozen"] == "true"


async def test_draft_document_is_a_preview(client: httpx.AsyncClient, make_deal: MakeDeal) -> None:
    deal = await make_deal("confirmed")
    contract = await create_contract(client, deal)
    r = await client.get(f"{API}/contracts/{contract['id']}/document", headers=deal.tenant.headers)
    assert r.status_code == 200
    assert r.headers["x-document-frozen"] == "false"
    # The same terms render the same bytes: the frozen document is the preview's twin.
    sent = await send(client, deal, contract["id"])
    assert sent["document_sha256"] == sha256(r.content)


async def test_only_the_landlord_sends_once(client: httpx.AsyncClient, make_deal: MakeDeal) -> None:
    deal = await make_deal("confirmed")
    contract = await create_contract(client, deal)
    r = await client.post(f"{API}/contracts/{contract['id']}/send", headers=deal.tenant.headers)
    assert r.status_code == 403
    assert r.json()["type"].endswith("/not-contract-landlord")
    await send(client, deal, contract["id"])
    r = await client.post(f"{API}/contracts/{contract['id']}/send", headers=deal.landlord.headers)
    assert r.status_code == 409
    assert r.json()["type"].endswith("/illegal-contract-transition")


async def _uncommitted(db: Database, statement: str, contract_id: str) -> None:
    async with db.primary.connect() as conn:
        await conn.execute(text(statement), {"id": contract_id})
        await conn.rollback()


async def test_terms_are_frozen_in_the_database(
    client: httpx.AsyncClient, make_deal: MakeDeal, db: Database
) -> None:
    deal = await make_deal("confirmed")
    contract = await create_contract(client, deal)
    await send(client, deal, contract["id"])
    for change in (
        "cold_rent_cents = cold_rent_cents + 1",
        "document_sha256 = repeat('0', 64)",
        "status = 'draft'",
    ):
        with pytest.raises(DBAPIError, match="frozen"):
            await _uncommitted(db, f"UPDATE contracts SET {change} WHERE id = :id", contract["id"])  # noqa: S608
    with pytest.raises(DBAPIError, match="append-only"):
        await _uncommitted(
            db,
            "UPDATE contract_documents SET sha256 = repeat('0', 64) WHERE contract_id = :id",
            contract["id"],
        )


async def test_sign_a_draft_is_409(client: httpx.AsyncClient, make_deal: MakeDeal) -> None:
    deal = await make_deal("confirmed")
    contract = await create_contract(client, deal)
    r = await sign(client, deal.tenant, contract["id"], "0" * 64)
    assert r.status_code == 409
    assert r.json()["type"].endswith("/illegal-contract-transition")


async def test_both_sign_the_frozen_hash(
    client: httpx.AsyncClient, make_deal: MakeDeal, db: Database
) -> None:
    deal = await make_deal("confirmed")
    contract = await create_contract(client, deal)
    sha = (await send(client, deal, contract["id"]))["document_sha256"]
    before = business.CONTRACTS_SIGNED._value.get()

    r = await sign(client, deal.tenant, contract["id"], sha)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "partially_signed"
    assert [s["party"] for s in r.json()["signatures"]] == ["tenant"]
    again = await sign(client, deal.tenant, contract["id"], sha)
    assert again.status_code == 409
    assert again.json()["type"].endswith("/already-signed")
    assert business.CONTRACTS_SIGNED._value.get() == before

    r = await sign(client, deal.landlord, contract["id"], sha.upper())  # hex in either case
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["status"] == "fully_signed"
    assert out["fully_signed_at"] is not None
    assert {s["party"] for s in out["signatures"]} == {"tenant", "landlord"}
    assert business.CONTRACTS_SIGNED._value.get() == before + 1
    r = await sign(client, deal.landlord, contract["id"], sha)
    assert r.status_code == 409

    async with db.primary.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT party, signer_id, ip, user_agent, document_sha256, signed_at "
                    "FROM contract_signatures WHERE contract_id = :id ORDER BY signed_at"
                ),
                {"id": contract["id"]},
            )
        ).all()
    assert [(r.party, r.signer_id) for r in rows] == [
        ("tenant", deal.tenant.id),
        ("landlord", deal.landlord.id),
    ]
    assert [r.user_agent for r in rows] == ["pytest-tenant", "pytest-landlord"]
    assert all(r.ip == "127.0.0.1" and r.document_sha256 == sha for r in rows)


async def test_wrong_hash_is_409_and_nothing_is_written(
    client: httpx.AsyncClient, make_deal: MakeDeal, db: Database
) -> None:
    deal = await make_deal("confirmed")
    contract = await create_contract(client, deal)
    sha = (await send(client, deal, contract["id"]))["document_sha256"]
    wrong = ("0" if sha[0] != "0" else "1") + sha[1:]
    r = await sign(client, deal.tenant, contract["id"], wrong)
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("/document-hash-mismatch")
    assert field_names(r.json()) == {"document_sha256"}
    got = (
        await client.get(f"{API}/contracts/{contract['id']}", headers=deal.tenant.headers)
    ).json()
    assert got["status"] == "sent"
    assert got["signatures"] == []
    signed_events = await count(
        db,
        "SELECT count(*) FROM contract_events WHERE contract_id = :id AND kind = 'signed'",
        id=contract["id"],
    )
    assert signed_events == 0


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"accept": False}, "accept"),
        ({"accept": "true"}, "accept"),
        ({"accept": ...}, "accept"),
        ({"full_name": ""}, "full_name"),
        ({"document_sha256": "xyz"}, "document_sha256"),
        ({"document_sha256": ...}, "document_sha256"),
    ],
)
async def test_bad_signature_input_is_422(
    client: httpx.AsyncClient,
    make_deal: MakeDeal,
    overrides: dict[str, Any],
    field: str,
) -> None:
    deal = await make_deal("confirmed")
    contract = await create_contract(client, deal)
    sha = (await send(client, deal, contract["id"]))["document_sha256"]
    r = await client.post(
        f"{API}/contracts/{contract['id']}/sign",
        json=sign_body(sha, **overrides),
        headers=deal.tenant.headers,
    )
    assert r.status_code == 422, r.text
    assert field in field_names(r.json())
    got = (
        await client.get(f"{API}/contracts/{contract['id']}", headers=deal.tenant.headers)
    ).json()
    assert got["signatures"] == []


async def test_emails_to_the_tenant_on_send_and_both_when_signed(
    client: httpx.AsyncClient, db: Database, make_deal: MakeDeal
) -> None:
    """Each in the recipient's language: the tenant reads English, the landlord German."""
    deal = await make_deal("confirmed")
    await set_language(db, deal.tenant.id, "en")
    contract = await create_contract(client, deal)
    sha = (await send(client, deal, contract["id"]))["document_sha256"]
    mail = await wait_for_mail(deal.tenant.email, subject_contains="Your lease is ready to sign")
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    content = body.get_content()
    assert content.startswith("Hello ")
    assert "Hallo" not in content
    assert mail["Content-Language"] == "en"
    assert f"Document SHA-256: {sha}" in content
    for member in (deal.tenant, deal.landlord):
        assert (await sign(client, member, contract["id"], sha)).status_code == 200
    for member, subject, line in (
        (deal.tenant, "Lease signed by both parties", "is now signed by tenant and landlord"),
        (
            deal.landlord,
            "Mietvertrag von beiden Seiten unterschrieben",
            "ist jetzt von Mieter und Vermieter unterschrieben",
        ),
    ):
        signed = await wait_for_mail(member.email, subject_contains=subject)
        part = signed.get_body(preferencelist=("plain",))
        assert part is not None
        assert line in part.get_content()
        assert signed["Content-Language"] == ("en" if member is deal.tenant else "de")


async def test_spans_of_send_and_sign(
    client: httpx.AsyncClient, make_deal: MakeDeal, spans: InMemorySpanExporter
) -> None:
    deal = await make_deal("confirmed")
    contract = await create_contract(client, deal)
    sha = (await send(client, deal, contract["id"]))["document_sha256"]
    assert (await sign(client, deal.tenant, contract["id"], sha)).status_code == 200
    tracing.flush()
    names = [s.name for s in spans.get_finished_spans()]
    assert "contract.send" in names
    assert "contract.sign" in names
    sign_span = next(s for s in spans.get_finished_spans() if s.name == "contract.sign")
    assert sign_span.attributes is not None
    assert sign_span.attributes["contract.id"] == contract["id"]
    assert sign_span.attributes["contract.party"] == "tenant"


async def test_downloaded_document_names_parties_and_amounts(
    client: httpx.AsyncClient, make_deal: MakeDeal, db: Database
) -> None:
    deal = await make_deal("confirmed")
    async with db.primary.begin() as conn:
        await conn.execute(
            text("UPDATE users SET full_name = 'Jürgen Weiß' WHERE id = :id"),
            {"id": deal.tenant.id},
        )
    contract = await create_contract(client, deal, end_date="2028-12-31")
    await send(client, deal, contract["id"])
    r = await client.get(f"{API}/contracts/{contract['id']}/document", headers=deal.tenant.headers)
    shown = " ".join(text_of(r.content).split())
    assert "Mieter: Jürgen Weiß" in shown
    assert deal.landlord.email in shown
    assert "Karl-Marx-Allee 12a, 10243 Berlin" in shown
    assert "Gesamtmiete (Warmmiete) monatlich: 1.170,00 €" in shown
    assert "Kaution von 2.850,00 €" in shown
    assert "endet am 31.12.2028" in shown
