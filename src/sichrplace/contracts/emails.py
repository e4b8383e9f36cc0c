"""The contract emails' texts (German first, English below): pure functions of their facts."""

from __future__ import annotations

import uuid

SENT_SUBJECT = "Ihr Mietvertrag liegt zur Unterschrift bereit / Your lease is ready to sign"
SIGNED_SUBJECT = "Mietvertrag von beiden Seiten unterschrieben / Lease signed by both parties"


def sent(
    *,
    tenant_name: str,
    landlord_name: str,
    address: str,
    contract_id: uuid.UUID,
    document_sha256: str,
) -> str:
    return (
        f"Hallo {tenant_name},\n\n"
        f"{landlord_name} hat Ihnen den Mietvertrag für die Wohnung {address} gesendet.\n"
        "Bitte lesen Sie das Dokument in SichrPlace und unterschreiben Sie es dort, wenn Sie "
        "einverstanden sind.\n\n"
        f"Vertrags-Nr.: {contract_id}\n"
        f"SHA-256 des Dokuments: {document_sha256}\n\n"
        "Die Kaution können Sie in einer Summe oder in drei monatlichen Teilzahlungen leisten "
        "(§ 551 Abs. 2 BGB).\n\n"
        "Ihr SichrPlace-Team\n\n"
        "---\n\n"
        f"Hello {tenant_name},\n\n"
        f"{landlord_name} has sent you the lease for the flat at {address}.\n"
        "Please read the document on SichrPlace and sign it there if you agree.\n\n"
        f"Contract no.: {contract_id}\n"
        f"Document SHA-256: {document_sha256}\n\n"
        "You may pay the deposit at once or in three monthly parts (§ 551 (2) BGB).\n\n"
        "Your SichrPlace team\n"
    )


def fully_signed(*, name: str, address: str, contract_id: uuid.UUID, document_sha256: str) -> str:
    return (
        f"Hallo {name},\n\n"
        f"der Mietvertrag für die Wohnung {address} ist jetzt von Mieter und Vermieter "
        "unterschrieben.\n\n"
        f"Vertrags-Nr.: {contract_id}\n"
        f"SHA-256 des unterschriebenen Dokuments: {document_sha256}\n\n"
        "Das Dokument und das Prüfprotokoll finden Sie jederzeit in SichrPlace.\n\n"
        "Ihr SichrPlace-Team\n\n"
        "---\n\n"
        f"Hello {name},\n\n"
        f"the lease for the flat at {address} is now signed by tenant and landlord.\n\n"
        f"Contract no.: {contract_id}\n"
        f"SHA-256 of the signed document: {document_sha256}\n\n"
        "The document and its audit trail are on SichrPlace at any time.\n\n"
        "Your SichrPlace team\n"
    )
