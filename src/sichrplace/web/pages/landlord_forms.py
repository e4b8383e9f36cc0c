"""The landlord's forms and the API's shapes, both ways.

People type euros ("1.234,50" or "1234.50"), decimal commas ("2,5"), German dates
("01.03.2027") and Berlin wall-clock times; the API wants integer cents, numbers, ISO days and
aware RFC 3339 times. A value that cannot be read is sent to the API as typed: its strict
types refuse it, so nothing is stored and every other field's problem comes back in the same
answer; the page then shows its own, clearer message at that field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.datastructures import FormData

from sichrplace.kit.i18n import DISPLAY_TIMEZONE, N_, Language, Msg
from sichrplace.listings.vocabulary import AMENITIES, ENERGY_CLASSES
from sichrplace.web.client import ApiProblem
from sichrplace.web.pages import listing as listing_page

BERLIN = ZoneInfo(DISPLAY_TIMEZONE)

# The same labels as the listing page's (one list of amenity names for every page).
AMENITY_LABELS = listing_page.AMENITY_LABELS
LISTING_STATUS_LABELS: dict[str, Msg] = {
    "active": N_("Active"),
    "reserved": N_("Reserved"),
    "rented": N_("Rented"),
    "archived": N_("Archived"),
}
VIEWING_STATUS_LABELS: dict[str, Msg] = {
    "pending_payment": N_("Awaiting payment"),
    "confirmed": N_("Confirmed"),
    "completed": N_("Completed"),
    "cancelled": N_("Cancelled"),
    "expired": N_("Expired"),
}
CONTRACT_STATUS_LABELS: dict[str, Msg] = {
    "draft": N_("Draft"),
    "sent": N_("Sent for signing"),
    "partially_signed": N_("Partially signed"),
    "fully_signed": N_("Fully signed"),
}

MONEY_PROBLEM = N_("Enter an amount in euros, e.g. 1.234,50.")
NUMBER_PROBLEM = N_("Enter a number, e.g. 2,5.")
DAY_PROBLEM = N_("Enter a date as DD.MM.YYYY.")
TIME_PROBLEM = N_("Enter a time as HH:MM.")

_GERMAN_DAY = re.compile(r"([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{4})")
_THOUSANDS = re.compile(r"[0-9]{1,3}(\.[0-9]{3})+")


# --- single values ----------------------------------------------------------------------------


def cents(text: str) -> int | None:
    """Euros as typed -> cents; None when empty, ValueError when unreadable.

    The last of "," and "." with one or two digits after it is the decimal mark; a "." with
    three digits after it groups thousands ("1.234" is 1234 €, as Germans write it)."""
    text = text.replace("€", "").replace(" ", "").replace("\u00a0", "").strip()
    if not text:
        return None
    if _THOUSANDS.fullmatch(text):
        text = text.replace(".", "")
    mark = max(text.rfind(","), text.rfind("."))
    whole, fraction = (text[:mark], text[mark + 1 :]) if mark >= 0 else (text, "")
    whole = whole.replace(".", "").replace(",", "")
    if not whole.isdigit() or not (fraction == "" or (fraction.isdigit() and len(fraction) <= 2)):
        raise ValueError(f"not an amount of euros: {text!r}")
    return int(whole) * 100 + int(fraction.ljust(2, "0") or 0)


def number(text: str) -> float | None:
    """A decimal number with "," or "." as the mark; None when empty."""
    text = text.strip().replace(",", ".")
    if not text:
        return None
    value = float(text)  # ValueError when unreadable
    if not math.isfinite(value):
        raise ValueError(f"not a number: {text!r}")
    return value


def day(text: str) -> str | None:
    """A day as the API wants it (YYYY-MM-DD) from a date input or "01.03.2027"."""
    text = text.strip()
    if not text:
        return None
    german = _GERMAN_DAY.fullmatch(text)
    if german:
        d, m, y = (int(part) for part in german.groups())
        return date(y, m, d).isoformat()
    return date.fromisoformat(text).isoformat()


def berlin_moment(on: str, at: str) -> datetime:
    """A Berlin wall-clock time on a day -> an aware datetime (the offset of that day)."""
    when = date.fromisoformat(day(on) or "")
    clock = time.fromisoformat(at.strip())
    return datetime.combine(when, clock.replace(tzinfo=None), tzinfo=BERLIN)


def euros(amount: int | None, language: Language) -> str:
    """Cents as an input's value: whole euros plainly, else with the language's mark."""
    if amount is None:
        return ""
    whole, rest = divmod(int(amount), 100)
    if not rest:
        return str(whole)
    return f"{whole}{',' if language == 'de' else '.'}{rest:02d}"


def decimal(value: float | None, language: Language) -> str:
    """A number as an input's value or in a sentence: 3.0 -> "3", 2.5 -> "2,5" (German)."""
    if value is None:
        return ""
    text = f"{value:g}" if float(value).is_integer() else repr(float(value))
    return text.replace(".", ",") if language == "de" else text


# --- forms ------------------------------------------------------------------------------------


@dataclass
class Parsed:
    """A form read for the API: the body to send, the page's own problems per input."""

    body: dict[str, Any] = field(default_factory=dict)
    problems: dict[str, Msg] = field(default_factory=dict)

    def put(self, name: str, value: Any, *, partial: bool) -> None:
        """Empty: omitted from a new resource (the API says what is required), null in a
        change (the API says what may be cleared)."""
        if value is not None or partial:
            self.body[name] = value


LISTING_TEXTS = ("title", "description", "street", "house_number", "postal_code", "city")
LISTING_MONEY = {
    "cold_rent": "cold_rent_cents",
    "utilities": "utilities_cents",
    "deposit": "deposit_cents",
}
LISTING_NUMBERS = ("rooms", "size_sqm", "latitude", "longitude")
LISTING_FLAGS = ("furnished", "pets_allowed", "wbs_required", "show_exact_address")
# The API's field -> the form's input, where they differ.
LISTING_INPUTS = {api: name for name, api in LISTING_MONEY.items()}
LISTING_FIELDS = frozenset(
    (*LISTING_TEXTS, "district", *LISTING_MONEY, *LISTING_NUMBERS, *LISTING_FLAGS)
) | {"available_from", "energy_class", "amenities", "status"}


def text_of(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def listing_values(form: FormData) -> dict[str, Any]:
    """What the landlord typed, to show again."""
    names = (*LISTING_TEXTS, "district", *LISTING_MONEY, *LISTING_NUMBERS)
    values: dict[str, Any] = {name: text_of(form, name) for name in names}
    values.update({name: text_of(form, name) for name in ("available_from", "energy_class")})
    values.update({name: bool(form.get(name)) for name in LISTING_FLAGS})
    chosen = set(form.getlist("amenities"))
    values["amenities"] = [a for a in AMENITIES if a in chosen]
    values["status"] = text_of(form, "status")
    return values


@dataclass(frozen=True)
class Reader:
    """How one typed value is read: the API's field, the parser, the message if it fails."""

    api: str
    read: Callable[[str], Any]
    problem: Msg


def read_into(parsed: Parsed, name: str, raw: str, how: Reader, *, partial: bool) -> None:
    try:
        parsed.put(how.api, how.read(raw), partial=partial)
    except ValueError:
        parsed.body[how.api] = raw  # refused by the API's strict type: nothing is stored
        parsed.problems[name] = how.problem


def _listing_readers() -> dict[str, Reader]:
    readers = {name: Reader(api, cents, MONEY_PROBLEM) for name, api in LISTING_MONEY.items()}
    readers.update({name: Reader(name, number, NUMBER_PROBLEM) for name in LISTING_NUMBERS})
    readers["available_from"] = Reader("available_from", day, DAY_PROBLEM)
    return readers


LISTING_READERS = _listing_readers()


def listing_body(values: Mapping[str, Any], *, partial: bool) -> Parsed:
    """The API's body of a listing from the form's values (`partial`: for PATCH)."""
    parsed = Parsed()
    for name in LISTING_TEXTS:
        if values[name] or partial:
            parsed.body[name] = values[name]
    parsed.put("district", values["district"] or None, partial=partial)
    for name, how in LISTING_READERS.items():
        read_into(parsed, name, values[name], how, partial=partial)
    parsed.put("energy_class", values["energy_class"] or None, partial=partial)
    for name in LISTING_FLAGS:
        parsed.body[name] = values[name]
    parsed.body["amenities"] = list(values["amenities"])
    if partial and values.get("status"):
        parsed.body["status"] = values["status"]
    return parsed


def listing_values_of(listing: Mapping[str, Any], language: Language) -> dict[str, Any]:
    """A stored listing (the owner's view) as the form's values."""
    values: dict[str, Any] = {name: listing.get(name) or "" for name in LISTING_TEXTS}
    values["district"] = listing.get("district") or ""
    for name, api in LISTING_MONEY.items():
        values[name] = euros(listing.get(api), language)
    for name in LISTING_NUMBERS:
        values[name] = decimal(listing.get(name), language)
    values["available_from"] = listing.get("available_from") or ""
    values["energy_class"] = listing.get("energy_class") or ""
    values.update({name: bool(listing.get(name)) for name in LISTING_FLAGS})
    values["amenities"] = list(listing.get("amenities") or ())
    values["status"] = listing.get("status") or ""
    return values


def _same(name: str, value: Any, stored: Any) -> bool:
    if name == "amenities":
        return set(value or ()) == set(stored or ())
    if isinstance(value, bool) or isinstance(stored, bool):
        return value is stored
    if isinstance(value, int | float) and isinstance(stored, int | float):
        return float(value) == float(stored)
    return value == stored or (value in ("", None) and stored in ("", None))


def changed(body: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of `body` that differ from the stored listing (a PATCH sends only those)."""
    return {k: v for k, v in body.items() if not _same(k, v, current.get(k))}


def for_the_form(problem: ApiProblem) -> bool:
    """Whether the form shows this problem again (bad input, a conflict): not an ended
    session (the login page, then back) nor a failure of ours (the error page)."""
    return problem.status != 401 and problem.status < 500


UNPLACED = "_unplaced"  # an error key: the API named something the form has no input for


def input_errors(
    problem: ApiProblem,
    inputs: Mapping[str, str],
    own: Mapping[str, Msg],
    language: Language,
    *,
    known: Collection[str],
) -> dict[str, str]:
    """The API's messages at the form's inputs (its field names mapped through `inputs`:
    `amenities.3` is the `amenities` input), the page's own problems over them. A message
    for no input of the form (`known`) marks the result UNPLACED: the page then shows the
    API's whole problem, not only "correct the marked fields"."""
    found: dict[str, str] = {}
    for error in problem.body.get("errors") or ():
        if not isinstance(error, Mapping):
            continue
        name = str(error.get("field") or "").split(".", 1)[0]
        name = inputs.get(name, name)
        if name in known:
            found.setdefault(name, str(error.get("message") or ""))
        else:
            found[UNPLACED] = name
    found.update({name: msg.render(language) for name, msg in own.items()})
    return found


def labels(table: Mapping[str, Msg], language: Language) -> dict[str, str]:
    return {key: msg.render(language) for key, msg in table.items()}


ENERGY_CLASS_OPTIONS = list(ENERGY_CLASSES)
SLOT_MINUTES = (15, 20, 30, 45, 60, 90, 120, 180, 240)


def slot_times(on: str, at: str, minutes: str) -> tuple[datetime, datetime]:
    """A slot's start and end as aware Berlin times; ValueError names the input at fault."""
    try:
        start = berlin_moment(on, "00:00")
    except ValueError:
        raise ValueError("date") from None
    try:
        start = berlin_moment(on, at)
    except ValueError:
        raise ValueError("start") from None
    try:
        length = int(minutes)
    except ValueError:
        raise ValueError("duration") from None
    # Wall-clock arithmetic would be wrong across a change of the clocks: add real minutes.
    end = (start.astimezone(ZoneInfo("UTC")) + timedelta(minutes=length)).astimezone(BERLIN)
    return start, end
