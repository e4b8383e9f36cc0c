"""The viewings' emails, each in its recipient's language: pure functions of a viewing's
context, what each party is told on confirmation and cancellation (kit/i18n.py)."""

from __future__ import annotations

from dataclasses import dataclass

from sichrplace.kit.i18n import N_, Msg, compose, language_of, when
from sichrplace.viewings.records import Person, ViewingContext
from sichrplace.viewings.vocabulary import Party

SIGN_OFF = N_("Kind regards\nThe SichrPlace team")


@dataclass(frozen=True, slots=True)
class Mail:
    to: str
    subject: str
    body: str
    dedupe_key: str
    language: str  # the one it is written in


def _other(context: ViewingContext, party: Party) -> Person:
    return context.landlord if party == "tenant" else context.tenant


def _recipient(context: ViewingContext, party: Party) -> Person:
    return context.tenant if party == "tenant" else context.landlord


def _facts(context: ViewingContext, timezone: str) -> Msg:
    viewing = context.viewing
    return N_(
        "Apartment: {title}\nAddress: {address}\nWhen: {when}",
        title=context.title,
        address=context.address,
        when=when(viewing.starts_at, viewing.ends_at, timezone),
    )


def confirmed(context: ViewingContext, party: Party, *, timezone: str) -> Mail:
    me, other = _recipient(context, party), _other(context, party)
    language = language_of(me.language)
    if party == "tenant":
        with_whom = N_("Landlord: {name}", name=other.full_name)
    else:
        with_whom = N_("Tenant: {name}", name=other.full_name)
    body = compose(
        language,
        N_("Hello {name},", name=me.full_name),
        N_("Your apartment viewing is confirmed."),
        N_("{facts}\n{with_whom}", facts=_facts(context, timezone), with_whom=with_whom),
        N_("The appointment for your calendar is attached (besichtigung.ics)."),
        SIGN_OFF,
    )
    return Mail(
        to=me.email,
        subject=N_("Viewing confirmed: {title}", title=context.title).render(language),
        body=body,
        dedupe_key=f"viewing-confirmed:{context.viewing.id}:{party}",
        language=language,
    )


def cancelled(
    context: ViewingContext, party: Party, *, by: Party | None, refunded: bool, timezone: str
) -> Mail:
    """`by`: the party who cancelled (None: the platform); `refunded`: the fee goes back."""
    me = _recipient(context, party)
    language = language_of(me.language)
    if by == "tenant":
        what = N_("the apartment viewing was cancelled by the tenant.")
    elif by == "landlord":
        what = N_("the apartment viewing was cancelled by the landlord.")
    else:
        what = N_("the apartment viewing was cancelled.")
    paragraphs: list[Msg | str] = [
        N_("Hello {name},", name=me.full_name),
        what,
        _facts(context, timezone),
    ]
    if refunded and party == "tenant":
        paragraphs.append(N_("The viewing fee will be refunded."))
    return Mail(
        to=me.email,
        subject=N_("Viewing cancelled: {title}", title=context.title).render(language),
        body=compose(language, *paragraphs, SIGN_OFF),
        dedupe_key=f"viewing-cancelled:{context.viewing.id}:{party}",
        language=language,
    )
