"""Contract problems (problem+json `type` slugs are stable)."""

from __future__ import annotations

from sichrplace.kit.errors import Conflict, Forbidden, NotFound


class ContractNotFound(NotFound):
    slug = "contract-not-found"

    def __init__(self) -> None:
        super().__init__("No such contract.")


class ViewingNotFound(NotFound):
    slug = "viewing-not-found"

    def __init__(self) -> None:
        super().__init__("No such viewing.")


class TenantNotFound(NotFound):
    slug = "tenant-not-found"

    def __init__(self) -> None:
        super().__init__("No such tenant.")


class ViewingNotConfirmed(Conflict):
    slug = "viewing-not-confirmed"

    def __init__(self, status: str) -> None:
        super().__init__(
            f"A contract needs a confirmed or completed viewing; this one is {str(status)!r}.",
            errors=[{"field": "viewing_id", "message": f"the viewing is {str(status)!r}"}],
        )


class NotContractLandlord(Forbidden):
    slug = "not-contract-landlord"

    def __init__(self) -> None:
        super().__init__("Only the contract's landlord may do this.")


class NotContractTenant(Forbidden):
    slug = "not-contract-tenant"

    def __init__(self) -> None:
        super().__init__("Only the contract's tenant may do this.")


class IllegalContractTransition(Conflict):
    slug = "illegal-contract-transition"

    def __init__(self, current: str, action: str) -> None:
        super().__init__(f"A contract that is {str(current)!r} cannot be {action}.")


class DocumentHashMismatch(Conflict):
    slug = "document-hash-mismatch"

    def __init__(self) -> None:
        super().__init__(
            "The document_sha256 is not the frozen document's: download it again and sign "
            "what you read.",
            errors=[{"field": "document_sha256", "message": "not the frozen document's hash"}],
        )


class AlreadySigned(Conflict):
    slug = "already-signed"

    def __init__(self, party: str) -> None:
        super().__init__(f"The {party!s} has already signed this contract.")


class DepositPlanFixed(Conflict):
    slug = "deposit-plan-fixed"

    def __init__(self) -> None:
        super().__init__(
            "The deposit plan is fixed once the first deposit payment has been started.",
            errors=[{"field": "deposit_plan", "message": "fixed by the first deposit payment"}],
        )


class DepositNotDue(Conflict):
    slug = "deposit-not-due"

    def __init__(self, reason: str) -> None:
        super().__init__(f"No deposit payment is owed now: {reason}.")
