"""kit/german.py without services: compound splitting, the parts indexed with a text, query
expansion and place-name folding (needs only the Debian word lists bootstrap installs)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sichrplace.kit import german
from sichrplace.kit.german import compound_terms, decompound, expand_query, fold


@pytest.mark.parametrize(
    ("word", "parts"),
    [
        ("Altbauwohnung", ("Altbau", "Wohnung")),
        ("Südbalkon", ("Süd", "Balkon")),
        ("Einbauküche", ("Einbau", "Küche")),
        ("Einbauküchen", ("Einbau", "Küchen")),  # inflected: the last part keeps its ending
        ("Dachterrasse", ("Dach", "Terrasse")),  # not "Dacht" + "Rasse"
        ("Badewanne", ("bade", "Wanne")),  # linking -e / verb stem
        ("Wohnungstür", ()),  # the last part "Tür" is shorter than four letters
        ("Tiefgaragenstellplatz", ("Tiefgaragen", "Stellplatz")),  # fewest parts first
        ("Dachgeschosswohnung", ("Dachgeschoss", "Wohnung")),
        ("Gasetagenheizung", ("Gas", "Etagen", "Heizung")),
        ("Wohnzimmern", ("wohn", "Zimmern")),  # Zimmer: from the hunspell list's base words
        ("Maisonettewohnung", ("Maisonette", "Wohnung")),  # Maisonette: EXTRA_NOUNS
        ("Waschmaschine", ("wasch", "Maschine")),
        ("Bushaltestelle", ("Bus", "Haltestelle")),
        ("Fußbodenheizung", ("Fußboden", "Heizung")),
        ("Hochparterre", ("Hoch", "Parterre")),
        ("Gartenzwerg", ("Garten", "Zwerg")),
        ("Stellplatz", ("stell", "Platz")),  # a compound of stellen + Platz
        ("Kreuzberg", ("Kreuz", "Berg")),
    ],
)
def test_compounds_split_into_their_parts(word: str, parts: tuple[str, ...]) -> None:
    assert decompound(word) == parts


@pytest.mark.parametrize(
    "word",
    [
        # Ordinary words: no split into nonsense.
        "Wohnung", "Balkon", "Terrasse", "Küche", "Garten", "Heizung", "Parkett", "Laminat",
        "Kaution", "Keller", "Fenster", "Erdgeschoss", "Nebenkosten",
        # Derivations with a prefix or function word are not compounds.
        "Einkauf", "Untermiete", "Mitbenutzung", "Aufzug",
        # A three-letter first part must be a noun and nothing else (not alt, neu).
        "Altbau", "Neubau", "Altstadt", "Neustadt",
        # Haus- compounds name something of the building, not a house.
        "Haustiere", "Hausmeister", "Hausflur",
        # -schaft is a suffix, -in(nen) the feminine form.
        "Nachbarschaft", "Gemeinschaft", "Mieterinnen", "Packerinnen",
        # Not one word.
        "Wohnung2", "Einbau-Küche", "", "a" * 80,
    ],
)  # fmt: skip
def test_ordinary_words_stay_whole(word: str) -> None:
    assert decompound(word) == ()


def test_case_and_unicode_form_do_not_matter() -> None:
    nfd = unicodedata.normalize("NFD", "Einbauküche")
    assert nfd != "Einbauküche"
    assert decompound(nfd) == decompound("EINBAUKÜCHE") == decompound("einbauküche")
    assert decompound("einbauküche") == ("Einbau", "Küche")


def test_compound_terms_are_every_part_once_recursively() -> None:
    text = (
        "Helle Altbauwohnung mit Südbalkon und Tiefgaragenstellplatz. Die Altbauwohnung hat "
        "eine Einbauküche; 3-Zimmer-Wohnung, Gäste-WC. Haustiere willkommen."
    )
    terms = compound_terms(text).split()
    assert terms == [
        "Altbau", "Wohnung", "Süd", "Balkon", "Tiefgaragen", "Tief", "Garagen", "Stellplatz",
        "stell", "Platz", "Einbau", "Küche",
    ]  # fmt: skip
    assert compound_terms("Helle Wohnung mit Balkon.") == ""
    assert compound_terms(unicodedata.normalize("NFD", "Südbalkon")) == "Süd Balkon"
    assert compound_terms("(Dachterrasse), »Kellerabteil«") == "Dach Terrasse Keller Abteil"


@pytest.mark.parametrize(
    ("q", "expanded"),
    [
        ("Einbauküche", "Einbau Küche"),
        ("helle altbauwohnung Berlin", "helle Altbau Wohnung Berlin"),
        ("Südbalkon, ruhig", "Süd Balkon, ruhig"),
        # Quoted phrases stay as written, and so does an unclosed quote's rest.
        ('"Einbauküche" Südbalkon', '"Einbauküche" Süd Balkon'),
        ('Südbalkon "Einbauküche', 'Süd Balkon "Einbauküche'),
        # A negated compound stays whole: it excludes listings that name one, not every
        # listing with a kitchen; `or` is an operator.
        ("Wohnung -Einbauküche", "Wohnung -Einbauküche"),
        ("Altbauwohnung or Südbalkon", "Altbau Wohnung or Süd Balkon"),
        ("Wohnung", "Wohnung"),
        ("Einbau-Küche 3-Zimmer", "Einbau-Küche 3-Zimmer"),
        # Umlauts spelt out, where only the umlaut spelling is a word.
        ("Kueche", "Küche"),
        ("suedbalkon", "Süd Balkon"),
        ("neue Wohnung", "neue Wohnung"),
        ("Quelle", "Quelle"),
    ],
)
def test_query_compounds_become_their_parts(q: str, expanded: str) -> None:
    assert expand_query(q) == expanded


@pytest.mark.parametrize(
    "spelling", ["München", "MÜNCHEN", "muenchen", "Muenchen", "munchen", "  München  "]
)
def test_fold_makes_one_key_of_every_spelling(spelling: str) -> None:
    assert fold(spelling) == fold(unicodedata.normalize("NFD", spelling)) == "munchen"


def test_fold_rules() -> None:
    assert fold("Straße") == fold("STRASSE") == "strasse"
    assert fold("Köln") == fold("Koeln") == "koln"
    assert fold("Halle (Saale)") == "halle saale"
    assert fold("Frankfurt/Oder") == fold("Frankfurt (Oder)") == "frankfurt oder"
    assert fold("St.\tPauli") == "st pauli"
    assert fold("10115") == "10115"


@given(st.text(max_size=40))
def test_fold_is_its_own_key(text: str) -> None:
    """A key folds to itself (a facet's value can be sent back as a filter)."""
    assert fold(fold(text)) == fold(text)


def test_the_lexicon_is_compact_and_needs_its_supplement() -> None:
    lexicon = german.lexicon()
    assert lexicon.nbytes < 8_000_000  # two arrays of 64-bit hashes
    assert len(lexicon.nouns) > 100_000
    assert lexicon.is_noun("zimmer")  # missing from wngerman, known to hunspell-de-de
    assert lexicon.is_noun("küche")
    assert not lexicon.is_noun("schön")
    assert all(lexicon.is_noun(word.lower()) for word in german.EXTRA_NOUNS)
    nouns = set()
    for path in (german.WORD_LIST, german.HUNSPELL_DIC):
        for line in path.read_text(encoding="utf-8").splitlines():
            word = line.partition("/")[0].strip()
            if word[:1].isupper():
                nouns.add(word)
    known = nouns.intersection(german.EXTRA_NOUNS)
    assert not known, f"the word lists know {known} now: drop them from EXTRA_NOUNS"
