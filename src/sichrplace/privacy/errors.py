"""Privacy problems (problem+json `type` slugs are stable)."""

from __future__ import annotations

from sichrplace.kit.errors import Conflict, Unauthorized


class WrongPassword(Unauthorized):
    slug = "wrong-password"

    def __init__(self) -> None:
        super().__init__("Das Passwort ist falsch. (The password is wrong.)")


class AccountNotDeletable(Conflict):
    slug = "account-has-open-obligations"

    def __init__(self, contracts: int) -> None:
        super().__init__(
            f"Das Konto kann noch nicht gelöscht werden: {contracts} Mietvertrag/-verträge "
            "sind noch nicht von beiden Seiten unterschrieben oder die Kaution ist offen. "
            "(The account cannot be deleted yet: a contract awaits signatures or its deposit.)"
        )
