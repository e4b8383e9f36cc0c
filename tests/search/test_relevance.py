"""German search quality: hand-written listings and the queries people type, each with the
listings it must find and the ones it must not, through the HTTP API.

The fixture writes ~70 realistic listings the way the API writes them (city and district
keys, compound parts: listings/fulltext.py), all inside a map box of their own far from any
other test's or the seed's listings; every query adds that box, walks all its cursor pages,
and judges only the fixture's listings. What is decided here:

- Compounds are found by their parts and the other way round: "Balkon" finds "Südbalkon",
  "Altbau" finds "Altbauwohnung", and "Altbauwohnung" finds "Wohnung im Altbau" (a query's
  compound becomes its parts, all required). Inflections match (Küchen/Küche, Balkone).
- Every part of a compound counts, the modifier too: "Garten" finds a listing that only
  mentions a "Gartenzwerg", as it finds a "Gartenwohnung" ("Altbau" in "Altbauwohnung" is a
  modifier as well, and nothing in a word tells the two apart). A listing that writes the word
  itself ranks above one that only has it inside a compound (weight D for parts).
- Words are not split into nonsense: "Rasse" does not find "Dachterrasse", "Park" does not
  find "Parkett", "Wohnung" does not find "Wohnen". "Haus" does not find "Haustiere" or
  "Hausmeister" (Haus- compounds name things of the building), but finds "Reihenhaus".
- A negated compound excludes the compound, not its parts; a quoted one matches only itself.
- Cities match in any spelling (MÜNCHEN, Muenchen, munchen, NFD), "Frankfurt" is Frankfurt am
  Main and not Frankfurt (Oder), "Halle" is Halle (Saale); districts are a filter (any
  spelling, St./Sankt) and full text.
"""

from __future__ import annotations

import random
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import insert

from sichrplace.config import Settings
from sichrplace.listings.models import Listing
from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database
from tests.helpers.members import create_member
from tests.search.conftest import BYPASS, FACETS, Flat, wait_for_replica
from tests.search.helpers import walk

NFD_MUENCHEN = unicodedata.normalize("NFD", "München")


@dataclass(frozen=True)
class Doc:
    city: str
    district: str | None
    postal_code: str
    title: str
    description: str = "Zwei Zimmer, ab sofort frei."
    cold: int = 80_000
    rooms: str = "2"
    status: str = "active"


DOCS: dict[str, Doc] = {
    # Compounds and their parts.
    "altbauwohnung": Doc("Berlin", "Kreuzberg", "10999", "Altbauwohnung mit hohen Decken",
                         "Drei Zimmer, Dielenboden, ab sofort frei.", rooms="3"),
    "wohnung_im_altbau": Doc("Hamburg", "Eimsbüttel", "20255", "Schöne Wohnung im Altbau"),
    "altbauwohnungen": Doc("Leipzig", "Gohlis", "04155", "Zwei Altbauwohnungen frei",
                           "Je zwei Zimmer."),
    "neubauwohnung": Doc("Hamburg", "Altona", "22765", "Neubauwohnung mit Aufzug",
                         "Erstbezug, zwei Zimmer."),
    "suedbalkon": Doc("Berlin", "Neukölln", "12043", "Wohnung mit Südbalkon",
                      "Ruhige Lage, zwei Zimmer."),
    "balkon_nach_sueden": Doc("München", "Schwabing", "80801", "Helle Wohnung, Balkon nach Süden"),
    "westbalkon": Doc("Köln", "Ehrenfeld", "50823", "Wohnung mit Westbalkon", "Drei Zimmer."),
    "terrasse": Doc("Koeln", "Sülz", "50937", "Erdgeschoss mit Terrasse", "Kleine Terrasse."),
    "dachterrasse": Doc("Berlin", "Prenzlauer Berg", "10405", "Penthouse mit Dachterrasse",
                        "Vier Zimmer, Aufzug.", rooms="4"),
    "einbaukueche": Doc("München", "Maxvorstadt", "80333", "Apartment mit Einbauküche",
                        "Ein Zimmer, möbliert.", rooms="1"),
    "einbaukuechen": Doc("Düsseldorf", "Bilk", "40223", "Zwei Wohnungen mit neuen Einbauküchen"),
    "einbau_kueche_hyphen": Doc("Dortmund", "Hörde", "44263", "Wohnung mit Einbau-Küche"),
    "kueche_plain": Doc("Frankfurt am Main", "Bornheim", "60385", "Wohnung mit großer Küche",
                        "Zwei Zimmer, Küche mit Fenster."),
    "wohnkueche": Doc("Frankfurt a. M.", "Nordend", "60318", "Wohnung mit offener Wohnküche",
                      "Drei Zimmer."),
    "kuechenzeile": Doc("Leipzig", "Plagwitz", "04229", "Apartment mit Küchenzeile",
                        "Ein Zimmer.", rooms="1"),
    "no_kitchen": Doc("Leipzig", "Connewitz", "04277", "Zimmer in WG", "Bad und Flur teilen.",
                      rooms="1"),
    "tiefgaragenstellplatz": Doc("Stuttgart", "Stuttgart-West", "70176",
                                 "Wohnung mit Tiefgaragenstellplatz"),
    "stellplatz": Doc("Stuttgart", "Degerloch", "70597", "Wohnung mit Stellplatz",
                      "Stellplatz im Hof."),
    "tiefgarage": Doc("Dresden", "Neustadt", "01097", "Wohnung mit Tiefgarage"),
    "garage": Doc("Dresden", "Striesen", "01309", "Haus mit Garage", "Vier Zimmer, eigene Garage.",
                  rooms="4"),
    "carport": Doc("Hannover", "List", "30163", "Doppelhaushälfte mit Carport", "Fünf Zimmer.",
                   rooms="5"),
    "reihenhaus": Doc("Hannover", "Linden", "30449", "Reihenhaus mit Garten",
                      "Fünf Zimmer, Rasen.", rooms="5"),
    "haustiere": Doc("Bremen", "Findorff", "28215", "Wohnung, Haustiere willkommen",
                     "Zwei Zimmer, Hausmeister vor Ort."),
    "hausmeister": Doc("Bremen", "Findorff", "28217", "Wohnung mit Hausmeisterservice"),
    "fussbodenheizung": Doc("Nürnberg", "Gostenhof", "90429", "Wohnung mit Fußbodenheizung",
                            "Drei Zimmer."),
    "heizung_plain": Doc("Nürnberg", "St. Johannis", "90419", "Wohnung, Heizung neu"),
    "gasetagenheizung": Doc("Essen", "Rüttenscheid", "45130", "Wohnung mit Gasetagenheizung"),
    "garten": Doc("Bonn", "Poppelsdorf", "53115", "Erdgeschosswohnung mit Garten", "Drei Zimmer."),
    "gartenwohnung": Doc("Bonn", "Beuel", "53225", "Gartenwohnung am Stadtrand"),
    "gartenzwerg": Doc("Münster", "Kreuzviertel", "48147", "Wohnung am Kanal",
                       "Zwei Zimmer. Der Gartenzwerg des Vormieters darf bleiben."),
    "badewanne": Doc("Karlsruhe", "Südweststadt", "76135", "Wohnung mit Badewanne"),
    "bad_mit_wanne": Doc("Karlsruhe", None, "76131", "Bad mit Wanne und Fenster"),
    "dusche": Doc("Mannheim", "Neckarstadt", "68169", "Wohnung mit Dusche"),
    "kellerabteil": Doc("Augsburg", None, "86150", "Wohnung mit Kellerabteil"),
    "fahrradkeller": Doc("Augsburg", None, "86152", "Wohnung mit Fahrradkeller"),
    "maisonettewohnung": Doc("Heidelberg", "Weststadt", "69115", "Maisonettewohnung mit Galerie",
                             "Vier Zimmer.", rooms="4"),
    "parkett": Doc("Mainz", "Neustadt", "55118", "Wohnung mit Parkett"),
    "park": Doc("Potsdam", "Babelsberg", "14482", "Wohnung am Park"),
    "wohnzimmer": Doc("Kiel", None, "24103", "Wohnung mit großem Wohnzimmer", "Drei Zimmer."),
    "wohnen_auf_zeit": Doc("Rostock", None, "18055", "Möbliertes Wohnen auf Zeit", "Ein Zimmer.",
                           rooms="1"),
    "archived_suedbalkon": Doc("Berlin", "Neukölln", "12047", "Wohnung mit Südbalkon",
                               status="archived"),
    # City spellings, long names and districts (neutral texts).
    "muc_nfc": Doc("München", "Schwabing", "80802", "Zwei Zimmer in Schwabing"),
    "muc_caps": Doc("MÜNCHEN", "Sendling", "81369", "Helle Wohnung"),
    "muc_ascii": Doc("Muenchen", "Giesing", "81539", "Ruhige Wohnung"),
    "muc_nfd": Doc(NFD_MUENCHEN, "Haidhausen", "81667", "Wohnung nahe Isar"),
    "muc_einbaukueche_big": Doc("München", "Bogenhausen", "81675",
                                "Familienwohnung mit Einbauküche", "Vier Zimmer.", rooms="4"),
    "ffm_long": Doc("Frankfurt am Main", "Sachsenhausen", "60594", "Wohnung am Main"),
    "ffm_abbr": Doc("Frankfurt a. M.", "Bockenheim", "60487", "Helle Wohnung"),
    "ffm_short": Doc("Frankfurt", "Westend", "60322", "Ruhige Wohnung"),
    "ffo": Doc("Frankfurt (Oder)", None, "15230", "Wohnung an der Oder"),
    "halle_saale": Doc("Halle (Saale)", None, "06108", "Wohnung an der Saale"),
    "halle_westf": Doc("Halle (Westf.)", None, "33790", "Wohnung im Teutoburger Wald"),
    "freiburg": Doc("Freiburg im Breisgau", "Wiehre", "79102", "Wohnung in der Wiehre"),
    "koeln": Doc("Köln", "Nippes", "50733", "Wohnung in Nippes"),
    "duesseldorf": Doc("Düsseldorf", "Pempelfort", "40479", "Wohnung in Pempelfort"),
    "st_pauli": Doc("Hamburg", "St. Pauli", "20359", "Wohnung am Hafen"),
    "sankt_pauli": Doc("Hamburg", "Sankt Pauli", "20357", "Wohnung nahe Reeperbahn"),
    "kreuzberg_notext": Doc("Berlin", "Kreuzberg", "10997", "Helle 2-Zimmer-Wohnung",
                            "Ruhige Lage im Seitenflügel, Laminat."),
    "neukoelln_ascii": Doc("Berlin", "Neukoelln", "12045", "Wohnung nahe Tempelhofer Feld"),
    "schoeneberg": Doc("Berlin", "Schöneberg", "10827", "Wohnung nahe Akazienstraße"),
    "berlin_balkon_cheap": Doc("Berlin", "Friedrichshain", "10245", "Wohnung mit Balkon",
                               cold=50_000),
    "berlin_balkon_expensive": Doc("Berlin", "Friedrichshain", "10247", "Wohnung mit Südbalkon",
                                   "Vier Zimmer, Blick über die Stadt.", cold=150_000, rooms="4"),
}  # fmt: skip


@dataclass(frozen=True)
class Case:
    params: dict[str, str]
    finds: frozenset[str]
    misses: frozenset[str] = field(default_factory=frozenset)


def case(params: dict[str, str], finds: str, misses: str = "") -> Case:
    return Case(params, frozenset(finds.split()), frozenset(misses.split()))


MUNICH = "muc_nfc muc_caps muc_ascii muc_nfd balkon_nach_sueden einbaukueche muc_einbaukueche_big"
FRANKFURT = "ffm_long ffm_abbr ffm_short kueche_plain wohnkueche"
KITCHENS = (
    "einbaukueche einbaukuechen einbau_kueche_hyphen kueche_plain wohnkueche kuechenzeile "
    "muc_einbaukueche_big"
)
FITTED = "einbaukueche einbaukuechen einbau_kueche_hyphen muc_einbaukueche_big"
BALCONIES = "suedbalkon balkon_nach_sueden westbalkon berlin_balkon_cheap berlin_balkon_expensive"
OLD_BUILDINGS = "altbauwohnung wohnung_im_altbau altbauwohnungen"

CASES: dict[str, Case] = {
    # Compounds both ways, inflections, spellings.
    "Altbau": case({"q": "Altbau"}, OLD_BUILDINGS, "neubauwohnung"),
    "Altbauwohnung": case({"q": "Altbauwohnung"}, OLD_BUILDINGS, "neubauwohnung"),
    "Altbauwohnungen": case({"q": "Altbauwohnungen"}, OLD_BUILDINGS, "neubauwohnung"),
    "Neubau": case({"q": "Neubau"}, "neubauwohnung", "altbauwohnung wohnung_im_altbau"),
    "Balkon": case({"q": "Balkon"}, BALCONIES, "terrasse dachterrasse archived_suedbalkon"),
    "Balkone": case({"q": "Balkone"}, BALCONIES, "terrasse dachterrasse"),
    "Südbalkon": case(
        {"q": "Südbalkon"},
        "suedbalkon balkon_nach_sueden berlin_balkon_expensive",
        "westbalkon berlin_balkon_cheap archived_suedbalkon",
    ),
    "Suedbalkon": case(
        {"q": "Suedbalkon"}, "suedbalkon berlin_balkon_expensive", "westbalkon berlin_balkon_cheap"
    ),
    "Küche": case({"q": "Küche"}, KITCHENS, "no_kitchen"),
    "Küchen": case({"q": "Küchen"}, KITCHENS, "no_kitchen"),
    "Kueche": case({"q": "Kueche"}, KITCHENS, "no_kitchen"),
    "Einbauküche": case({"q": "Einbauküche"}, FITTED, "kueche_plain wohnkueche kuechenzeile"),
    "einbaukuechen": case({"q": "einbaukuechen"}, FITTED, "kueche_plain wohnkueche"),
    "quoted Einbauküche": case(
        {"q": '"Einbauküche"'},
        "einbaukueche einbaukuechen muc_einbaukueche_big",
        "einbau_kueche_hyphen kueche_plain",
    ),
    "Küche -Einbauküche": case(
        {"q": "Küche -Einbauküche"},
        "kueche_plain wohnkueche kuechenzeile",
        "einbaukueche einbaukuechen muc_einbaukueche_big",
    ),
    "Wohnküche": case({"q": "Wohnküche"}, "wohnkueche", "kueche_plain kuechenzeile"),
    "Terrasse": case({"q": "Terrasse"}, "terrasse dachterrasse", "suedbalkon"),
    "Dachterrasse": case({"q": "Dachterrasse"}, "dachterrasse", "terrasse"),
    "Rasse": case({"q": "Rasse"}, "", "dachterrasse terrasse"),
    "Stellplatz": case(
        {"q": "Stellplatz"}, "tiefgaragenstellplatz stellplatz", "tiefgarage garage"
    ),
    "Tiefgarage": case(
        {"q": "Tiefgarage"}, "tiefgaragenstellplatz tiefgarage", "stellplatz garage"
    ),
    "Garage": case({"q": "Garage"}, "tiefgaragenstellplatz tiefgarage garage", "carport"),
    "Heizung": case({"q": "Heizung"}, "fussbodenheizung heizung_plain gasetagenheizung", "dusche"),
    "Fußbodenheizung": case(
        {"q": "Fußbodenheizung"}, "fussbodenheizung", "heizung_plain gasetagenheizung"
    ),
    "Fussbodenheizung": case({"q": "Fussbodenheizung"}, "fussbodenheizung", "heizung_plain"),
    "Garten": case(
        {"q": "Garten"}, "garten gartenwohnung reihenhaus gartenzwerg", "terrasse westbalkon"
    ),
    "Haus": case({"q": "Haus"}, "reihenhaus garage carport", "haustiere hausmeister"),
    "Haustiere": case({"q": "Haustiere"}, "haustiere", "reihenhaus garage"),
    "Badewanne": case({"q": "Badewanne"}, "badewanne bad_mit_wanne", "dusche"),
    "Wanne": case({"q": "Wanne"}, "badewanne bad_mit_wanne", "dusche"),
    "Keller": case({"q": "Keller"}, "kellerabteil fahrradkeller", "dusche"),
    "Fahrrad": case({"q": "Fahrrad"}, "fahrradkeller", "kellerabteil"),
    "Maisonette": case({"q": "Maisonette"}, "maisonettewohnung", "dachterrasse"),
    "Park": case({"q": "Park"}, "park", "parkett"),
    "Parkett": case({"q": "Parkett"}, "parkett", "park"),
    "Zimmer": case({"q": "Zimmer"}, "wohnzimmer no_kitchen altbauwohnung", ""),
    "Wohnung": case({"q": "Wohnung"}, "wohnung_im_altbau altbauwohnung", "wohnen_auf_zeit"),
    "Altbau or Maisonette": case(
        {"q": "Altbau or Maisonette"}, "altbauwohnung maisonettewohnung", "neubauwohnung"
    ),
    # Districts in full text (its parts too: "Schöneberg" is "schön" + "Berg").
    "q Kreuzberg": case(
        {"q": "Kreuzberg"}, "altbauwohnung kreuzberg_notext", "suedbalkon schoeneberg"
    ),
    "q Schöneberg": case({"q": "Schöneberg"}, "schoeneberg", "altbauwohnung kreuzberg_notext"),
    # City spellings and long names.
    "city muenchen": case({"city": "muenchen"}, MUNICH, FRANKFURT),
    "city MÜNCHEN": case({"city": "MÜNCHEN"}, MUNICH, FRANKFURT),
    "city Munchen": case({"city": "Munchen"}, MUNICH, FRANKFURT),
    "city München NFD": case({"city": NFD_MUENCHEN}, MUNICH, FRANKFURT),
    "city Frankfurt": case({"city": "Frankfurt"}, FRANKFURT, "ffo " + MUNICH),
    "city Frankfurt am Main": case({"city": "Frankfurt am Main"}, FRANKFURT, "ffo"),
    "city Frankfurt (Oder)": case({"city": "Frankfurt (Oder)"}, "ffo", FRANKFURT),
    "city Halle": case({"city": "Halle"}, "halle_saale", "halle_westf"),
    "city Halle (Saale)": case({"city": "Halle (Saale)"}, "halle_saale", "halle_westf"),
    "city Freiburg": case({"city": "Freiburg"}, "freiburg"),
    "city Koeln": case({"city": "Koeln"}, "westbalkon terrasse koeln", "duesseldorf"),
    "city Duesseldorf": case({"city": "Duesseldorf"}, "einbaukuechen duesseldorf", "koeln"),
    # District filter and postal codes.
    "Berlin Kreuzberg": case(
        {"city": "Berlin", "district": "Kreuzberg"},
        "altbauwohnung kreuzberg_notext",
        "suedbalkon neukoelln_ascii schoeneberg",
    ),
    "district kreuzberg": case(
        {"district": "kreuzberg"}, "altbauwohnung kreuzberg_notext", "suedbalkon"
    ),
    "Berlin Neukölln": case(
        {"city": "Berlin", "district": "Neukölln"},
        "suedbalkon neukoelln_ascii",
        "altbauwohnung archived_suedbalkon",
    ),
    "Hamburg St. Pauli": case(
        {"city": "Hamburg", "district": "St. Pauli"}, "st_pauli sankt_pauli", "wohnung_im_altbau"
    ),
    "Hamburg Sankt Pauli": case(
        {"city": "Hamburg", "district": "Sankt Pauli"}, "st_pauli sankt_pauli", "neubauwohnung"
    ),
    "postal 10999": case({"postal_code": "10999"}, "altbauwohnung", "kreuzberg_notext"),
    # Combined with filters.
    "Berlin Balkon cheap": case(
        {"city": "Berlin", "q": "Balkon", "max_rent": "80000"},
        "berlin_balkon_cheap",
        "berlin_balkon_expensive suedbalkon",
    ),
    "Muenchen Einbauküche 3+ rooms": case(
        {"city": "Muenchen", "q": "Einbauküche", "min_rooms": "3"},
        "muc_einbaukueche_big",
        "einbaukueche",
    ),
    "Berlin Südbalkon by rent": case(
        {"city": "Berlin", "q": "Südbalkon", "sort": "rent_asc"},
        "suedbalkon berlin_balkon_expensive",
        "archived_suedbalkon balkon_nach_sueden",
    ),
    "Schwabing Balkon": case(
        {"district": "Schwabing", "q": "Balkon"}, "balkon_nach_sueden", "muc_nfc suedbalkon"
    ),
}


@dataclass(frozen=True)
class Written:
    ids: dict[str, str]  # DOCS key -> listing id
    bbox: str

    @property
    def keys(self) -> dict[str, str]:
        return {listing_id: key for key, listing_id in self.ids.items()}


@pytest.fixture(scope="module")
async def written(db: Database, settings: Settings) -> Written:
    """DOCS as listings of one landlord, spread over a 0.01° box of their own (random per run,
    in the Arctic Ocean: no other listing is there)."""
    owner = await create_member(db, settings, "landlord", label="relevance")
    rng = random.Random()
    lat0, lng0 = rng.uniform(75.0, 80.0), rng.uniform(-170.0, -150.0)
    now = datetime.now(UTC)
    flats: dict[str, Flat] = {}
    for n, (key, doc) in enumerate(DOCS.items()):
        flats[key] = Flat(
            id=uuid.uuid4(),
            city=doc.city,
            district=doc.district,
            postal_code=doc.postal_code,
            lat=round(lat0 + rng.uniform(0.001, 0.009), 6),
            lng=round(lng0 + rng.uniform(0.001, 0.009), 6),
            cold=doc.cold,
            utilities=15_000,
            rooms=Decimal(doc.rooms),
            size=Decimal("60"),
            furnished=False,
            pets=False,
            available_from=date.today(),
            amenities=[],
            status=doc.status,
            title=doc.title,
            description=doc.description,
            created_at=now - timedelta(minutes=n),
        )
    async with transaction(db) as session:
        await session.execute(insert(Listing), [f.row(owner.id) for f in flats.values()])
    await wait_for_replica(db)
    bbox = f"{lng0:.6f},{lat0:.6f},{lng0 + 0.01:.6f},{lat0 + 0.01:.6f}"
    return Written({key: str(f.id) for key, f in flats.items()}, bbox)


async def _found(client: httpx.AsyncClient, written: Written, params: dict[str, str]) -> list[str]:
    """The fixture's listings a search finds, in the order found (every page walked)."""
    items = await walk(client, dict(params, bbox=written.bbox), limit=20)
    keys = written.keys
    return [keys[item["id"]] for item in items if item["id"] in keys]


def test_the_set_is_big_enough() -> None:
    assert len(CASES) >= 40
    assert 60 <= len(DOCS) <= 100
    named = {key for c in CASES.values() for key in c.finds | c.misses}
    assert named <= set(DOCS), named - set(DOCS)
    assert all(not (c.finds & c.misses) for c in CASES.values())


@pytest.mark.parametrize("name", list(CASES))
async def test_query_finds_what_it_must_and_not_what_it_must_not(
    client: httpx.AsyncClient, written: Written, name: str
) -> None:
    wanted = CASES[name]
    found = await _found(client, written, wanted.params)
    assert len(found) == len(set(found)), "a listing came twice"
    missing = wanted.finds - set(found)
    wrong = wanted.misses & set(found)
    assert not missing, f"{name}: missing {sorted(missing)} (found {found})"
    assert not wrong, f"{name}: found {sorted(wrong)}"


async def test_a_word_itself_ranks_above_the_same_word_inside_a_compound(
    client: httpx.AsyncClient, written: Written
) -> None:
    found = await _found(client, written, {"q": "Garten", "sort": "relevance"})
    assert set(found) >= {"garten", "reihenhaus", "gartenzwerg"}
    assert found.index("garten") < found.index("gartenzwerg")
    assert found.index("reihenhaus") < found.index("gartenzwerg")


async def test_facets_count_a_district_in_any_spelling(
    client: httpx.AsyncClient, written: Written
) -> None:
    """The facet index does not hold districts: Postgres counts them (same answer)."""
    totals = []
    for district in ("Kreuzberg", "KREUZBERG", "kreuzberg"):
        params: dict[str, Any] = {"district": district, "bbox": written.bbox}
        resp = await client.get(FACETS, params=params, headers=BYPASS)
        assert resp.status_code == 200, resp.text
        totals.append(resp.json()["total"])
    assert totals == [2, 2, 2]
    resp = await client.get(FACETS, params={"city": "Frankfurt", "bbox": written.bbox})
    city = resp.json()["city"]
    assert [(c["value"], c["count"]) for c in city] == [("frankfurt", 5)]
    assert city[0]["label"] in ("Frankfurt am Main", "Frankfurt a. M.")  # the commonest


@pytest.mark.parametrize("bad", [{"district": ""}, {"district": "x" * 101}])
async def test_a_bad_district_is_a_422_naming_it(
    client: httpx.AsyncClient, bad: dict[str, str]
) -> None:
    resp = await client.get("/api/v1/search/listings", params=bad)
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in resp.json()["errors"]] == ["district"]
