"""Business counters: one place for every product event the dashboards and SLOs count.

Domains increment them through `count_after_commit` inside the unit of work, so an event is
counted only if its write committed (a rolled-back booking was never made). The label values
are closed sets (the `Literal`s below), so a caller cannot add series. Counters whose
domain does not exist yet (bookings, payments, contracts, messages) are declared here with
the names and label values deploy/slo/slos.yaml expects, for those domains to increment.

Synthetic monitors' events are not business (platform/synthetic.py): a change made in a
request marked synthetic, or whose `parties` include a synthetic account, is not counted.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Literal, get_args

from prometheus_client import Counter

from sichrplace.platform import synthetic
from sichrplace.platform.db.sessions import PrimarySession, on_commit

RegistrationRole = Literal["tenant", "landlord", "admin"]
# succeeded | failed are the booking SLO's events; cancelled and abandoned are the user's
# choice and not events of that SLI (deploy/slo/slos.yaml).
BookingOutcome = Literal["succeeded", "failed", "cancelled", "abandoned"]
# declined: the card issuer's answer, not our failure (not an event of the payment SLI).
PaymentOutcome = Literal["succeeded", "failed", "declined", "refunded"]

REGISTRATIONS = Counter(
    "sichrplace_registrations_total",
    "Accounts registered, by role.",
    ["role"],
)
LISTINGS_PUBLISHED = Counter(
    "sichrplace_listings_published_total",
    "Listings made visible to tenants (created active, or set active again).",
)
BOOKINGS = Counter(
    "sichrplace_bookings_total",
    "Viewing bookings that ended, by outcome: succeeded, failed, cancelled, abandoned.",
    ["outcome"],
)
PAYMENTS = Counter(
    "sichrplace_payments_total",
    "Payments that ended, by outcome: succeeded, failed, declined, refunded.",
    ["outcome"],
)
CONTRACTS_SIGNED = Counter(
    "sichrplace_contracts_signed_total",
    "Rental contracts signed by both parties.",
)
MESSAGES_SENT = Counter(
    "sichrplace_messages_sent_total",
    "Messages sent between tenants and landlords.",
)

# Every label value of each labelled counter, so each series exists from the start at 0:
# a rate over a series that appears with its first event misses that event.
_LABEL_VALUES: list[tuple[Counter, tuple[str, ...]]] = [
    (REGISTRATIONS, get_args(RegistrationRole)),
    (BOOKINGS, get_args(BookingOutcome)),
    (PAYMENTS, get_args(PaymentOutcome)),
]
for _counter, _values in _LABEL_VALUES:
    for _value in _values:
        _counter.labels(_value)


Parties = Iterable[uuid.UUID | None]


def _after_commit(session: PrimarySession, counter: Counter, parties: Parties = ()) -> None:
    # Decided now, in the change's own context (the request's mark), not after commit.
    if synthetic.excluded(*parties):
        return

    async def count() -> None:
        counter.inc()

    on_commit(session, count)


_ROLES = frozenset(get_args(RegistrationRole))


def registration(session: PrimarySession, role: str, *, parties: Parties = ()) -> None:
    """`role`: the account's role value (accounts' `Role`, whose values are RegistrationRole's)."""
    if role not in _ROLES:
        raise ValueError(f"not a registration role: {role!r}")
    _after_commit(session, REGISTRATIONS.labels(role), parties)


def listing_published(session: PrimarySession, *, parties: Parties = ()) -> None:
    _after_commit(session, LISTINGS_PUBLISHED, parties)


def booking(session: PrimarySession, outcome: BookingOutcome, *, parties: Parties = ()) -> None:
    """`parties`: the booking's tenant (a webhook that confirms it carries no request mark)."""
    _after_commit(session, BOOKINGS.labels(outcome), parties)


def payment(session: PrimarySession, outcome: PaymentOutcome, *, parties: Parties = ()) -> None:
    """`parties`: the payer."""
    _after_commit(session, PAYMENTS.labels(outcome), parties)


def contract_signed(session: PrimarySession, *, parties: Parties = ()) -> None:
    _after_commit(session, CONTRACTS_SIGNED, parties)


def failed_now(kind: Literal["booking", "payment"], *, parties: Parties = ()) -> None:
    """A booking or payment that broke and was rolled back: no commit will count it, so it
    is counted at once (the SLIs' bad event), unless synthetic."""
    if not synthetic.excluded(*parties):
        (BOOKINGS if kind == "booking" else PAYMENTS).labels("failed").inc()


def message_sent(session: PrimarySession, *, parties: Parties = ()) -> None:
    _after_commit(session, MESSAGES_SENT, parties)
