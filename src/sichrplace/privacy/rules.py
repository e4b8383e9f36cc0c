"""What a deleted account becomes and what is kept after it (pure values, no I/O)."""

from __future__ import annotations

import uuid
from typing import Any

DELETED_NAME = "Gelöschtes Konto"
# Not an argon2 hash: every verification of it fails (accounts/security.py).
UNUSABLE_PASSWORD = "!deleted"  # noqa: S105 - a marker, not a secret


def deleted_email(user_id: uuid.UUID) -> str:
    # .invalid is reserved (RFC 2606): no mail can ever reach it, and it stays unique.
    return f"deleted-{user_id}@deleted.invalid"


def export_filename(date: str) -> str:
    return f"sichrplace-export-{date}.json"


def retention() -> list[dict[str, Any]]:
    """What stays after the account is deleted, and why (German first)."""
    return [
        {
            "data": "payments, ledger_entries",
            "kept_for_years": 10,
            "grund": "Aufbewahrungspflicht für Buchungsbelege (§ 147 AO, § 257 HGB): "
            "10 Jahre ab Ende des Kalenderjahres.",
            "reason": "Accounting records must be kept for 10 years (§ 147 AO, § 257 HGB).",
        },
        {
            "data": "contracts (sent or signed), contract_signatures, contract_events",
            "kept_for_years": 10,
            "grund": "Unterschriebene Mietverträge und ihr Nachweis (Unterschriften, "
            "Protokoll) sind Handels- und Geschäftsbriefe bzw. Buchungsbelege "
            "(§ 257 HGB, § 147 AO): 10 Jahre.",
            "reason": "Signed leases and their evidence are kept for 10 years "
            "(§ 257 HGB, § 147 AO).",
        },
        {
            "data": "messages",
            "kept_for_years": None,
            "grund": "Nachrichten bleiben für die andere Person der Unterhaltung sichtbar; "
            "als Absender steht „Gelöschtes Konto“.",
            "reason": "Messages stay visible to the other participant; the author is shown "
            "as a deleted account.",
        },
        {
            "data": "users (the row, anonymised), privacy_audit",
            "kept_for_years": None,
            "grund": "Die anonymisierte Kontozeile bleibt, weil die aufbewahrten Belege auf "
            "sie verweisen; das Protokoll von Export und Löschung ist der Nachweis "
            "(Art. 5 Abs. 2 DSGVO).",
            "reason": "The anonymised account row stays because kept records point at it; "
            "the export/deletion audit is our accountability record (Art. 5(2) GDPR).",
        },
    ]
