"""The message catalogs and the language rules (kit/i18n.py, `sichrplace i18n`)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, EmailStr, Field, ValidationError

from sichrplace.cli import i18n as catalogs
from sichrplace.kit.errors import Unprocessable
from sichrplace.kit.i18n import (
    LANGUAGES,
    N_,
    NP_,
    Moment,
    negotiate,
    translations,
    when,
)
from sichrplace.platform.http.problems import validation_errors


def test_every_message_of_the_code_is_in_both_catalogs_and_translated() -> None:
    """Extraction from the code yields no message a catalog lacks, leaves empty or marks
    fuzzy, and no translation drops or invents a placeholder (`sichrplace i18n check`)."""
    assert list(catalogs.problems()) == []


def test_the_check_finds_a_missing_an_empty_and_a_fuzzy_entry(tmp_path: Path) -> None:
    """The check above can fail: a catalog without a message, with an empty or a fuzzy one."""
    source = catalogs.catalog_path("de").read_text(encoding="utf-8")
    entry = 'msgid "No such listing."\nmsgstr "Diese Anzeige gibt es nicht."\n'
    assert entry in source
    broken = tmp_path / "messages.po"
    for replacement, found in (
        ("", "de: missing 'No such listing.'"),
        ('msgid "No such listing."\nmsgstr ""\n', "de: untranslated 'No such listing.'"),
        (
            '#, fuzzy\nmsgid "No such listing."\nmsgstr "Keine Anzeige."\n',
            "de: fuzzy 'No such listing.'",
        ),
        (
            'msgid "No such listing."\nmsgstr "Keine {x}."\n',
            "de: placeholders differ in 'No such listing.'",
        ),
    ):
        broken.write_text(source.replace(entry, replacement), encoding="utf-8")
        assert list(catalogs.problems({"de": broken})) == [found]


def test_both_catalogs_load() -> None:
    for language in LANGUAGES:
        assert translations(language).gettext("No such listing.")
    assert translations("de").gettext("No such listing.") == "Diese Anzeige gibt es nicht."


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "de"),
        ("", "de"),
        ("en", "en"),
        ("en-GB", "en"),
        ("EN-us,en;q=0.9", "en"),
        ("de-AT", "de"),
        ("fr-FR, en;q=0.5, de;q=0.7", "de"),
        ("fr-FR, de;q=0.5, en;q=0.7", "en"),
        ("de;q=0, en;q=0.1", "en"),
        ("en;q=0", "de"),
        ("en, de", "en"),  # equal weights: the first
        ("*", "de"),
        ("fr, it", "de"),
        ("en;q=nonsense, de", "de"),
        ("en;q=2", "de"),  # out of range: ignored
    ],
)
def test_accept_language_picks_german_or_english(header: str | None, language: str) -> None:
    assert negotiate(header) == language


def test_a_message_renders_with_its_parameters_in_each_language() -> None:
    problem = Unprocessable.field("ends_at", N_("a slot lasts at most {n} minutes", n=90))
    assert problem.document(language="de")["detail"] == (
        "ends_at: ein Termin dauert höchstens 90 Minuten"
    )
    assert problem.document(language="en")["errors"] == [
        {"field": "ends_at", "message": "a slot lasts at most 90 minutes"}
    ]
    assert problem.document(language="de")["title"] == "Nicht verarbeitbarer Inhalt"
    assert str(problem) == "ends_at: a slot lasts at most 90 minutes"


def test_plurals_follow_the_count() -> None:
    one = NP_("must have at least {n} item", "must have at least {n} items", 1, n=1)
    two = NP_("must have at least {n} item", "must have at least {n} items", 2, n=2)
    assert (one.render("de"), two.render("de")) == (
        "muss mindestens 1 Eintrag haben",
        "muss mindestens 2 Einträge haben",
    )
    assert (one.render("en"), two.render("en")) == (
        "must have at least 1 item",
        "must have at least 2 items",
    )


def test_times_are_shown_on_berlin_clocks_in_each_languages_format() -> None:
    winter = datetime(2027, 1, 15, 17, 0, tzinfo=UTC)  # CET, UTC+1
    summer = datetime(2027, 7, 15, 17, 0, tzinfo=UTC)  # CEST, UTC+2
    end = datetime(2027, 1, 15, 17, 30, tzinfo=UTC)
    assert when(winter, end).render("de") == "Freitag, 15. Januar 2027, 18:00-18:30 Uhr"
    assert when(winter, end).render("en") == "Friday, 15 January 2027, 18:00-18:30"
    assert Moment(summer).render("de") == "15.07.2027, 19:00"
    assert Moment(summer).render("en") == "15 Jul 2027, 19:00"


class _Shape(BaseModel):
    title: str = Field(min_length=3)
    rooms: int = Field(ge=1)
    email: EmailStr
    tags: list[str] = Field(max_length=2)


def _errors(data: dict[str, Any], language: str) -> dict[str, str]:
    with pytest.raises(ValidationError) as raised:
        _Shape.model_validate(data)
    exc = RequestValidationError(
        [dict(e, loc=("body", *e["loc"])) for e in raised.value.errors(include_url=False)]
    )
    return {e["field"]: e["message"].render(language) for e in validation_errors(exc)}  # type: ignore[arg-type]


def test_pydantics_errors_are_catalog_messages() -> None:
    data = {"title": "ab", "rooms": 0, "email": "nope", "tags": ["a", "b", "c"]}
    assert _errors(data, "de") == {
        "title": "muss mindestens 3 Zeichen lang sein",
        "rooms": "muss mindestens 1 sein",
        "email": "ist keine gültige E-Mail-Adresse",
        "tags": "darf höchstens 2 Einträge haben",
    }
    assert _errors(data, "en") == {
        "title": "must be at least 3 characters long",
        "rooms": "must be at least 1",
        "email": "is not a valid email address",
        "tags": "must have at most 2 items",
    }
    assert _errors({"rooms": "x"}, "de") == {
        "title": "ist erforderlich",
        "rooms": "muss eine ganze Zahl sein",
        "email": "ist erforderlich",
        "tags": "ist erforderlich",
    }


def test_the_unread_message_email_in_both_languages() -> None:
    import uuid

    from sichrplace.messaging.records import UnreadState
    from sichrplace.messaging.tasks import unread_mail

    def state(language: str, count: int) -> UnreadState:
        return UnreadState(
            recipient_id=uuid.uuid4(),
            recipient_email="v@example.com",
            recipient_name="Jürgen",
            recipient_language=language,
            recipient_preferences={},
            other_name="Jana",
            listing_title="Altbau",
            read_seq=0,
            newest_seq=count,
            unread_count=count,
        )

    german = unread_mail(state("de", 1), uuid.uuid4())
    assert german.subject == "Neue Nachricht von Jana: Altbau"
    assert "Sie haben eine ungelesene Nachricht von Jana." in german.body
    assert "„Nachrichten“" in german.body
    assert (
        "Sie haben 3 ungelesene Nachrichten von Jana."
        in unread_mail(state("de", 3), uuid.uuid4()).body
    )
    english = unread_mail(state("en", 3), uuid.uuid4())
    assert english.subject == "New message from Jana: Altbau"
    assert "you have 3 unread messages from Jana." in english.body
    assert "ungelesen" not in english.body
