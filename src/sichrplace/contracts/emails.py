"""The contract emails, each in its recipient's language: pure functions of their facts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sichrplace.kit.i18n import N_, Language, compose

SIGN_OFF = N_("Your SichrPlace team")


@dataclass(frozen=True, slots=True)
class Letter:
    subject: str
    body: str
    language: Language  # the one it is written in


def sent(
    language: Language,
    *,
    tenant_name: str,
    landlord_name: str,
    address: str,
    contract_id: uuid.UUID,
    document_sha256: str,
) -> Letter:
    return Letter(
        N_("Your lease is ready to sign").render(language),
        compose(
            language,
            N_("Hello {name},", name=tenant_name),
            N_(
                "{landlord} has sent you the lease for the flat at {address}.\nPlease read the "
                "document on SichrPlace and sign it there if you agree.",
                landlord=landlord_name,
                address=address,
            ),
            N_(
                "Contract no.: {contract_id}\nDocument SHA-256: {sha256}",
                contract_id=contract_id,
                sha256=document_sha256,
            ),
            N_("You may pay the deposit at once or in three monthly parts (§ 551 (2) BGB)."),
            SIGN_OFF,
        ),
        language,
    )


def fully_signed(
    language: Language, *, name: str, address: str, contract_id: uuid.UUID, document_sha256: str
) -> Letter:
    return Letter(
        N_("Lease signed by both parties").render(language),
        compose(
            language,
            N_("Hello {name},", name=name),
            N_(
                "the lease for the flat at {address} is now signed by tenant and landlord.",
                address=address,
            ),
            N_(
                "Contract no.: {contract_id}\nSHA-256 of the signed document: {sha256}",
                contract_id=contract_id,
                sha256=document_sha256,
            ),
            N_("The document and its audit trail are on SichrPlace at any time."),
            SIGN_OFF,
        ),
        language,
    )
