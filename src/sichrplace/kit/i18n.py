"""Texts in German and English: English message ids marked in code, translated at the edge.

Code says what to tell, not in which language:

    raise Unprocessable.field("ends_at", N_("a slot lasts at most {n} minutes", n=limit))
    NP_("{n} unread message", "{n} unread messages", count, n=count)

`N_` and `NP_` make a `Msg` (the English message id and its named parameters) and mark it for
extraction (`sichrplace i18n extract`, babel.cfg). Nothing is translated there, so services
and rules need no request context; the problem handler or the mail builder renders the `Msg`
in the reader's language (`Msg.render`). A parameter may itself be a `Msg` or another
`Localized` value (a date, a time), rendered in the same language.

The catalogs are `sichrplace/locale/<language>/LC_MESSAGES/messages.po`, read and compiled in
memory on first use in each process (a few milliseconds): the .po files are the only form in
the repository, so no compiled file can be stale.
"""

from __future__ import annotations

import io
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Literal, Protocol, get_args
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

Language = Literal["de", "en"]
LANGUAGES: tuple[Language, ...] = get_args(Language)
DEFAULT_LANGUAGE: Language = "de"
LOCALES: Mapping[Language, str] = {"de": "de_DE", "en": "en_GB"}
DISPLAY_TIMEZONE = "Europe/Berlin"  # times are shown as Germany's clocks say, in both languages
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "messages"


class Localized(Protocol):
    """A value shown differently per language."""

    def render(self, language: Language) -> str: ...


@dataclass(frozen=True, slots=True)
class Msg:
    """A message to translate later: the English id (and plural), its count and parameters."""

    msgid: str
    params: Mapping[str, object] = field(default_factory=dict)
    plural: str | None = None
    count: int | None = None

    def render(self, language: Language) -> str:
        catalog = translations(language)
        if self.plural is None:
            text = catalog.gettext(self.msgid)
        else:
            text = catalog.ngettext(self.msgid, self.plural, self.count or 0)
        values = {key: _shown(value, language) for key, value in self.params.items()}
        try:
            return text.format_map(values)
        except (KeyError, IndexError, ValueError):  # a broken translation: the English text
            english = self.msgid if self.plural is None or self.count == 1 else self.plural
            return english.format_map(values)

    def __str__(self) -> str:
        """English, for logs and exceptions' messages."""
        return self.render("en")


def N_(msgid: str, /, **params: object) -> Msg:
    """Mark `msgid` (English, with `{name}` placeholders) for translation later."""
    return Msg(msgid, params)


def NP_(singular: str, plural: str, count: int, /, **params: object) -> Msg:
    """Like `N_`, with the plural form chosen by `count` in each language."""
    return Msg(singular, params, plural, count)


def render(text: Msg | str, language: Language) -> str:
    return text.render(language) if isinstance(text, Msg) else text


def compose(language: Language, *paragraphs: Msg | str) -> str:
    """An email's text in `language`: its paragraphs, separated by blank lines."""
    return "\n\n".join(render(p, language) for p in paragraphs) + "\n"


def _shown(value: object, language: Language) -> str:
    if isinstance(value, Msg):
        return value.render(language)
    render_in = getattr(value, "render", None)
    if callable(render_in):
        return str(render_in(language))
    return str(value)


# --- dates and times ----------------------------------------------------------------------------


def _local(moment: datetime, timezone: str) -> datetime:
    return moment.astimezone(ZoneInfo(timezone))


@dataclass(frozen=True, slots=True)
class Day:
    """A day in the language's long form: "Freitag, 15. Januar 2027" / "Friday, 15 January 2027".
    A datetime is first put on the display time zone's clock."""

    value: date | datetime
    timezone: str = DISPLAY_TIMEZONE

    def render(self, language: Language) -> str:
        day = self.value
        if isinstance(day, datetime):
            day = _local(day, self.timezone).date()
        return format_date(day, format="full", locale=LOCALES[language])


@dataclass(frozen=True, slots=True)
class Clock:
    """A time of day on the display time zone's clock: "18:00" (24-hour in both languages)."""

    value: datetime
    timezone: str = DISPLAY_TIMEZONE

    def render(self, language: Language) -> str:
        return format_time(
            self.value, "HH:mm", tzinfo=ZoneInfo(self.timezone), locale=LOCALES[language]
        )


@dataclass(frozen=True, slots=True)
class Moment:
    """A date and time: "15.01.2027, 18:00" / "15 Jan 2027, 18:00" (display time zone)."""

    value: datetime
    timezone: str = DISPLAY_TIMEZONE

    def render(self, language: Language) -> str:
        return format_datetime(
            self.value, "medium", tzinfo=ZoneInfo(self.timezone), locale=LOCALES[language]
        ).rsplit(":", 1)[0]  # without seconds


def when(starts_at: datetime, ends_at: datetime, timezone: str = DISPLAY_TIMEZONE) -> Msg:
    """An appointment: "Freitag, 15. Januar 2027, 18:00-18:30 Uhr"."""
    return N_(
        "{day}, {start}-{end}",
        day=Day(starts_at, timezone),
        start=Clock(starts_at, timezone),
        end=Clock(ends_at, timezone),
    )


# --- choosing the language ----------------------------------------------------------------------


def language_of(value: str | None) -> Language:
    """A stored language ('de'|'en'); anything else is the default."""
    return "en" if value == "en" else DEFAULT_LANGUAGE


@lru_cache(maxsize=256)
def negotiate(accept_language: str | None) -> Language:
    """The language of an Accept-Language header (RFC 9110: q-values, `de-AT` is German,
    `*` any): the one of ours with the highest weight, the earlier on a tie; German when the
    header names neither."""
    if not accept_language:
        return DEFAULT_LANGUAGE
    best: tuple[float, int, Language] | None = None
    for index, item in enumerate(accept_language[:1000].split(",")):
        tag, _, params = item.strip().partition(";")
        primary = tag.strip().lower().split("-", 1)[0]
        weight = _weight(params)
        if weight <= 0:
            continue
        if primary == "*":
            candidate: Language = DEFAULT_LANGUAGE
        elif primary in LANGUAGES:
            candidate = "en" if primary == "en" else "de"
        else:
            continue
        if best is None or (weight, -index) > (best[0], best[1]):
            best = (weight, -index, candidate)
    return DEFAULT_LANGUAGE if best is None else best[2]


def _weight(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                weight = float(value.strip())
            except ValueError:
                return 0.0
            return weight if 0.0 <= weight <= 1.0 else 0.0
    return 1.0


# --- the catalogs -------------------------------------------------------------------------------


def catalog_path(language: Language) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(language: Language) -> Translations:
    """The language's catalog, compiled from its .po in memory once per process. Fuzzy
    entries are left out (as msgfmt does): they are not translations yet."""
    with catalog_path(language).open("rb") as po:
        catalog = read_po(po, locale=LOCALES[language], domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def placeholders(text: str) -> frozenset[str]:
    """The `{name}` placeholders of a message (what a translation must keep)."""
    return frozenset(name for _, name, _, _ in string.Formatter().parse(text) if name is not None)
