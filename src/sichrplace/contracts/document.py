"""The lease as a PDF ("Wohnraummietvertrag"), rendered from the template below with fpdf2.

Deterministic: the same contract and parties give the same bytes (the creation date is the
contract's, the font is embedded from a fixed file), so a draft's preview and the frozen
document of the same terms agree, and tests can hash them. DejaVu (Debian's
fonts-dejavu-core) is embedded so umlauts, ß and € render in every reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from fpdf import FPDF

from sichrplace.contracts.records import ContractRow, Parties
from sichrplace.contracts.rules import deposit_parts, installment_due_dates
from sichrplace.contracts.vocabulary import DepositPlan

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT = "DejaVu"
BERLIN = ZoneInfo("Europe/Berlin")


@dataclass(frozen=True, slots=True)
class Section:
    heading: str
    paragraphs: tuple[str, ...]


def euro(cents: int) -> str:
    """Cents as German amounts: 1.234,56 €."""
    whole, rest = divmod(cents, 100)
    return f"{whole:,}".replace(",", ".") + f",{rest:02d} €"


def day(value: date) -> str:
    return value.strftime("%d.%m.%Y")


def sections(contract: ContractRow, parties: Parties) -> list[Section]:
    """The lease's text: the template filled with the contract's terms and its parties."""
    landlord, tenant, flat = parties.landlord, parties.tenant, parties.listing
    address = f"{flat.street} {flat.house_number}, {flat.postal_code} {flat.city}"
    rooms = f"{flat.rooms:g}".replace(".", ",")
    size = f"{flat.size_sqm:g}".replace(".", ",")
    if contract.end_date is None:
        term = (
            f"Das Mietverhältnis beginnt am {day(contract.start_date)} und wird auf "
            "unbestimmte Zeit geschlossen (unbefristet). Es kann nach den gesetzlichen "
            "Vorschriften gekündigt werden (§§ 573, 573c BGB)."
        )
    else:
        term = (
            f"Das Mietverhältnis beginnt am {day(contract.start_date)} und endet am "
            f"{day(contract.end_date)} (befristet, § 575 BGB)."
        )
    parts = deposit_parts(contract.deposit_cents, DepositPlan.THREE_PARTS)
    dues = installment_due_dates(contract.start_date, DepositPlan.THREE_PARTS)
    schedule = "; ".join(
        f"{number}. Teil {euro(amount)}, fällig am {day(due)}"
        for number, (amount, due) in enumerate(zip(parts, dues, strict=True), start=1)
    )
    return [
        Section(
            "§ 1 Vertragsparteien",
            (
                f"Vermieter: {landlord.full_name} (E-Mail: {landlord.email})",
                f"Mieter: {tenant.full_name} (E-Mail: {tenant.email})",
            ),
        ),
        Section(
            "§ 2 Mietsache",
            (
                f"Vermietet wird die Wohnung {address}, bestehend aus {rooms} Zimmern mit "
                f"einer Wohnfläche von ca. {size} m², zur Nutzung als Wohnraum.",
            ),
        ),
        Section("§ 3 Mietzeit", (term,)),
        Section(
            "§ 4 Miete und Betriebskosten",
            (
                f"Nettokaltmiete monatlich: {euro(contract.cold_rent_cents)}",
                f"Betriebskostenvorauszahlung monatlich: {euro(contract.utilities_cents)}",
                f"Gesamtmiete (Warmmiete) monatlich: {euro(contract.warm_rent_cents)}",
                "Die Miete ist monatlich im Voraus, spätestens bis zum dritten Werktag des "
                "Monats, zu zahlen (§ 556b Abs. 1 BGB). Über die Vorauszahlungen wird jährlich "
                "abgerechnet (§ 556 Abs. 3 BGB).",
            ),
        ),
        Section(
            "§ 5 Mietsicherheit (Kaution)",
            (
                f"Der Mieter leistet eine Kaution von {euro(contract.deposit_cents)}; sie "
                "beträgt höchstens drei Nettokaltmieten (§ 551 Abs. 1 BGB).",
                "Zahlungsweise: nach Wahl des Mieters in einer Summe oder in drei gleichen "
                "monatlichen Teilzahlungen (§ 551 Abs. 2 BGB): "
                f"{schedule}. Die erste Teilzahlung ist zu Beginn des Mietverhältnisses fällig, "
                "die weiteren mit den beiden folgenden Mietzahlungen.",
                "Der Vermieter legt die Kaution getrennt von seinem Vermögen bei einem "
                "Kreditinstitut zu dem für Spareinlagen mit dreimonatiger Kündigungsfrist "
                "üblichen Zinssatz an; die Erträge stehen dem Mieter zu (§ 551 Abs. 3 BGB).",
            ),
        ),
        Section(
            "§ 6 Elektronische Unterzeichnung",
            (
                "Dieses Dokument wurde mit seinem Versand unveränderlich festgehalten; "
                "SichrPlace speichert seinen SHA-256-Hashwert. Jede Unterschrift bezieht sich "
                "auf genau diesen Hashwert und wird mit Name, Zeitpunkt, IP-Adresse und "
                "Browserkennung protokolliert.",
            ),
        ),
    ]


class _Lease(FPDF):
    def footer(self) -> None:
        self.set_y(-15)
        self.set_font(FONT, size=8)
        self.cell(0, 10, f"Seite {self.page_no()}/{{nb}}", align="C")


def render(contract: ContractRow, parties: Parties) -> bytes:
    """The lease for `contract` between `parties` as PDF bytes (the same inputs, the same bytes)."""
    pdf = _Lease(format="A4")
    pdf.set_creation_date(contract.created_at)
    pdf.set_title(f"Wohnraummietvertrag {contract.id}")
    pdf.set_author("SichrPlace")
    pdf.set_subject(f"Mietvertrag {parties.listing.street} {parties.listing.house_number}")
    pdf.set_lang("de-DE")
    pdf.add_font(FONT, "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font(FONT, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.set_margins(20, 20, 20)
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.add_page()
    pdf.set_font(FONT, "B", 18)
    pdf.cell(0, 12, "Wohnraummietvertrag", new_x="LMARGIN", new_y="NEXT", align="C")
    pdf.set_font(FONT, size=9)
    created = contract.created_at.astimezone(BERLIN)
    pdf.cell(
        0,
        6,
        f"Vertrags-Nr. {contract.id} · erstellt am {day(created.date())}",
        new_x="LMARGIN",
        new_y="NEXT",
        align="C",
    )
    pdf.ln(4)
    for section in sections(contract, parties):
        pdf.set_font(FONT, "B", 12)
        pdf.cell(0, 8, section.heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(FONT, size=10.5)
        for paragraph in section.paragraphs:
            pdf.multi_cell(0, 5.5, paragraph, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1.5)
        pdf.ln(2)
    _signature_page(pdf, parties)
    return bytes(pdf.output())


def _signature_page(pdf: FPDF, parties: Parties) -> None:
    pdf.add_page()
    pdf.set_font(FONT, "B", 14)
    pdf.cell(0, 10, "Unterschriften", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=10.5)
    pdf.multi_cell(
        0,
        5.5,
        "Die Parteien unterzeichnen diesen Vertrag elektronisch auf SichrPlace. Das "
        "Prüfprotokoll (Zeitpunkt, IP-Adresse, Browserkennung) ist Teil des Vertrags.",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    for role, person in (("Vermieter", parties.landlord), ("Mieter", parties.tenant)):
        pdf.ln(14)
        pdf.cell(0, 6, "Ort, Datum: ______________________________", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(10)
        pdf.cell(0, 6, "_" * 45, new_x="LMARGIN", new_y="NEXT")
        pdf.cell(0, 6, f"{role}: {person.full_name}", new_x="LMARGIN", new_y="NEXT")
