"""The viewings' emails (German first, English below), as pure functions of a viewing's
context: what each party is told on confirmation and cancellation."""

from __future__ import annotations

from dataclasses import dataclass

from sichrplace.viewings import rules
from sichrplace.viewings.records import Person, ViewingContext
from sichrplace.viewings.vocabulary import Party


@dataclass(frozen=True, slots=True)
class Mail:
    to: str
    subject: str
    body: str
    dedupe_key: str


def _other(context: ViewingContext, party: Party) -> Person:
    return context.landlord if party == "tenant" else context.tenant


def _recipient(context: ViewingContext, party: Party) -> Person:
    return context.tenant if party == "tenant" else context.landlord


def confirmed(context: ViewingContext, party: Party, *, timezone: str) -> Mail:
    viewing = context.viewing
    de_when = rules.german_when(viewing.starts_at, viewing.ends_at, timezone)
    en_when = rules.english_when(viewing.starts_at, viewing.ends_at, timezone)
    me, other = _recipient(context, party), _other(context, party)
    de_with = "Vermieter/in" if party == "tenant" else "Mieter/in"
    en_with = "landlord" if party == "tenant" else "tenant"
    body = (
        f"Hallo {me.full_name},\n\n"
        f"Ihre Wohnungsbesichtigung ist bestätigt.\n\n"
        f"Wohnung: {context.title}\n"
        f"Adresse: {context.address}\n"
        f"Termin: {de_when}\n"
        f"{de_with}: {other.full_name}\n\n"
        "Den Termin für Ihren Kalender finden Sie im Anhang (besichtigung.ics).\n\n"
        "Viele Grüße\nIhr SichrPlace-Team\n\n"
        "----\n\n"
        f"Hello {me.full_name},\n\n"
        f"Your apartment viewing is confirmed.\n\n"
        f"Apartment: {context.title}\n"
        f"Address: {context.address}\n"
        f"When: {en_when}\n"
        f"{en_with.capitalize()}: {other.full_name}\n\n"
        "The appointment for your calendar is attached (besichtigung.ics).\n\n"
        "Kind regards\nThe SichrPlace team\n"
    )
    return Mail(
        to=me.email,
        subject=f"Besichtigung bestätigt / Viewing confirmed: {context.title}",
        body=body,
        dedupe_key=f"viewing-confirmed:{viewing.id}:{party}",
    )


def cancelled(
    context: ViewingContext, party: Party, *, by: Party | None, refunded: bool, timezone: str
) -> Mail:
    """`by`: the party who cancelled (None: the platform); `refunded`: the fee goes back."""
    viewing = context.viewing
    de_when = rules.german_when(viewing.starts_at, viewing.ends_at, timezone)
    en_when = rules.english_when(viewing.starts_at, viewing.ends_at, timezone)
    me = _recipient(context, party)
    de_by = {
        "tenant": " von der Mieterin / dem Mieter",
        "landlord": " von der Vermieterin / dem Vermieter",
    }
    en_by = {"tenant": " by the tenant", "landlord": " by the landlord"}
    de_refund = (
        "Die Besichtigungsgebühr wird erstattet.\n\n" if refunded and party == "tenant" else ""
    )
    en_refund = "The viewing fee will be refunded.\n\n" if refunded and party == "tenant" else ""
    body = (
        f"Hallo {me.full_name},\n\n"
        f"die Wohnungsbesichtigung wurde{de_by[by] if by else ''} abgesagt.\n\n"
        f"Wohnung: {context.title}\n"
        f"Adresse: {context.address}\n"
        f"Termin: {de_when}\n\n"
        f"{de_refund}"
        "Viele Grüße\nIhr SichrPlace-Team\n\n"
        "----\n\n"
        f"Hello {me.full_name},\n\n"
        f"the apartment viewing was cancelled{en_by[by] if by else ''}.\n\n"
        f"Apartment: {context.title}\n"
        f"Address: {context.address}\n"
        f"When: {en_when}\n\n"
        f"{en_refund}"
        "Kind regards\nThe SichrPlace team\n"
    )
    return Mail(
        to=me.email,
        subject=f"Besichtigung abgesagt / Viewing cancelled: {context.title}",
        body=body,
        dedupe_key=f"viewing-cancelled:{viewing.id}:{party}",
    )
