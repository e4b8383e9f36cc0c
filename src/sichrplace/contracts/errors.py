"""Contract problems (problem+json `type` slugs are stable)."""

from __future__ import annotations

from sichrplace.kit.errors import Conflict, Forbidden, NotFound
from sichrplace.kit.i18n import N_, Msg


class ContractNotFound(NotFound):
    slug = "contract-not-found"

    def __init__(self) -> None:
        super().__init__(N_("No such contract."))


class ViewingNotFound(NotFound):
    slug = "viewing-not-found"

    def __init__(self) -> None:
        super().__init__(N_("No such viewing."))


class TenantNotFound(NotFound):
    slug = "tenant-not-found"

    def __init__(self) -> None:
        super().__init__(N_("No such tenant."))


class ViewingNotConfirmed(Conflict):
    slug = "viewing-not-confirmed"

    def __init__(self, status: str) -> None:
        status = str(status)  # the value, also of an enum member
        super().__init__(
            N_(
                "A contract needs a confirmed or completed viewing; this one is '{status}'.",
                status=status,
            ),
            errors=[
                {"field": "viewing_id", "message": N_("the viewing is '{status}'", status=status)}
            ],
        )


class NotContractLandlord(Forbidden):
    slug = "not-contract-landlord"

    def __init__(self) -> None:
        super().__init__(N_("Only the contract's landlord may do this."))


class NotContractTenant(Forbidden):
    slug = "not-contract-tenant"

    def __init__(self) -> None:
        super().__init__(N_("Only the contract's tenant may do this."))


class IllegalContractTransition(Conflict):
    slug = "illegal-contract-transition"

    def __init__(self, current: str, action: str) -> None:
        status = str(current)
        if action == "sent":
            detail = N_("A contract that is '{status}' cannot be sent.", status=status)
        else:
            detail = N_("A contract that is '{status}' cannot be signed.", status=status)
        super().__init__(detail)


class DocumentHashMismatch(Conflict):
    slug = "document-hash-mismatch"

    def __init__(self) -> None:
        super().__init__(
            N_(
                "The document_sha256 is not the frozen document's: download it again and "
                "sign what you read."
            ),
            errors=[{"field": "document_sha256", "message": N_("not the frozen document's hash")}],
        )


class AlreadySigned(Conflict):
    slug = "already-signed"

    def __init__(self, party: str) -> None:
        if str(party) == "tenant":
            detail = N_("The tenant has already signed this contract.")
        else:
            detail = N_("The landlord has already signed this contract.")
        super().__init__(detail)


class DepositPlanFixed(Conflict):
    slug = "deposit-plan-fixed"

    def __init__(self) -> None:
        super().__init__(
            N_("The deposit plan is fixed once the first deposit payment has been started."),
            errors=[{"field": "deposit_plan", "message": N_("fixed by the first deposit payment")}],
        )


class DepositNotDue(Conflict):
    slug = "deposit-not-due"

    def __init__(self, reason: Msg) -> None:
        super().__init__(N_("No deposit payment is owed now: {reason}.", reason=reason))
