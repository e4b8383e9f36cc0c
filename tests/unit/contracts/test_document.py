"""The lease PDF: its text (read back through the embedded font's maps) names the parties,
the flat, every amount and the term, umlauts and ß intact; the same inputs, the same bytes."""

from __future__ import annotations

from datetime import date

from sichrplace.contracts import document
from sichrplace.contracts.vocabulary import DepositPlan
from tests.unit.contracts.pdftext import text_of
from tests.unit.contracts.rows import contract, parties


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_text_names_parties_flat_and_amounts() -> None:
    text = _flat(text_of(document.render(contract(), parties())))
    for expected in (
        "Wohnraummietvertrag",
        "Vermieter: Grete Größmann (E-Mail: grete@example.com)",
        "Mieter: Jürgen Weiß (E-Mail: juergen@example.com)",
        "Schönhauser Allee 12a, 10437 Berlin",
        "Nettokaltmiete monatlich: 950,00 €",
        "Betriebskostenvorauszahlung monatlich: 220,00 €",
        "Gesamtmiete (Warmmiete) monatlich: 1.170,00 €",
        "Kaution von 2.850,00 €",
        "1. Teil 950,00 €, fällig am 01.01.2027",
        "3. Teil 950,00 €, fällig am 01.03.2027",
        "beginnt am 01.01.2027",
        "(unbefristet)",
        "Unterschriften",
        "Mieter: Jürgen Weiß",
    ):
        assert expected in text, expected


def test_fixed_term_and_other_amounts() -> None:
    row = contract(
        end_date=date(2028, 6, 30),
        cold_rent_cents=123_456,
        utilities_cents=7_89,
        deposit_cents=100_001,
        deposit_plan=DepositPlan.THREE_PARTS,
    )
    text = _flat(text_of(document.render(row, parties())))
    assert "endet am 30.06.2028 (befristet" in text
    assert "unbefristet" not in text
    assert "1.234,56 €" in text
    assert "7,89 €" in text
    assert "1.242,45 €" in text  # warm rent
    assert "1. Teil 333,34 €" in text
    assert "2. Teil 333,34 €" in text
    assert "3. Teil 333,33 €" in text


def test_same_inputs_same_bytes() -> None:
    first = document.render(contract(), parties())
    assert first.startswith(b"%PDF-")
    assert document.render(contract(), parties()) == first
    assert document.render(contract(cold_rent_cents=95_001), parties()) != first


def test_euro_format() -> None:
    assert document.euro(0) == "0,00 €"
    assert document.euro(5) == "0,05 €"
    assert document.euro(123_456_789) == "1.234.567,89 €"
