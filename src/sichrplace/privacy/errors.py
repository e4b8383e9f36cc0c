"""Privacy problems (problem+json `type` slugs are stable)."""

from __future__ import annotations

from sichrplace.kit.errors import Conflict, Unauthorized
from sichrplace.kit.i18n import N_, NP_


class WrongPassword(Unauthorized):
    slug = "wrong-password"

    def __init__(self) -> None:
        super().__init__(N_("The password is wrong."))


class AccountNotDeletable(Conflict):
    slug = "account-has-open-obligations"

    def __init__(self, contracts: int) -> None:
        super().__init__(
            NP_(
                "The account cannot be deleted yet: {n} lease awaits signatures from both "
                "sides or its deposit is open.",
                "The account cannot be deleted yet: {n} leases await signatures from both "
                "sides or their deposits are open.",
                contracts,
                n=contracts,
            )
        )
