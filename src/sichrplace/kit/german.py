"""German text rules for search: compound words and the key form of place names.

Pure Python (no database, no web framework), used at write time (the compound parts stored
with a listing), at query time (the parts of a searched compound) and for place keys.

    decompound("Einbauküche")            -> ("Einbau", "Küche")
    compound_terms("Altbauwohnung mit Südbalkon") -> "Altbau Wohnung Süd Balkon"
    expand_query('Einbauküche -Gartenzwerg "Altbau"') -> 'Einbau Küche -Gartenzwerg "Altbau"'
    fold("MÜNCHEN") == fold("muenchen") == fold("Munchen") -> "munchen"

The dictionary is Debian's German word list (package `wngerman`, /usr/share/dict/ngerman:
every inflected form, nouns capitalised) plus the base words of Debian's German hunspell
dictionary (`hunspell-de-de`, the same igerman98 source), because the word list lacks the
base forms of about 18 % of the nouns, common ones among them (Zimmer, Platz, Miete, Zeit),
and a few words of the rental market neither knows (EXTRA_NOUNS). It is loaded once per
process, on first use, as two sorted arrays of 64-bit string hashes (nouns; other words)
searched by bisection: 2.9 MB (sets of the strings would be ~35 MB). Results are cached per
word and per query. docs/adr/0008-german-text-search.md has the measurements.

The rules of a split (`decompound`), chosen so that ordinary words stay whole:
- the last part is a noun of at least 4 letters (a form the lists know, or a noun of theirs
  plus a plural or case ending), never the suffix -schaft; the parts before it are words of
  at least 4 letters (nouns, adjectives, verb stems such as "wasch" of "waschen") or nouns of
  3 that are nothing else ("Süd", "Bad", "Bus"; not "alt" or "neu": Altstadt stays whole);
- a linking element may follow a part: -s, -es, -n, -en, -er, -e (Wohnung-s-bau);
- function words and prefixes (ein, aus, unter, ...) never start a part, so derivations such
  as "Einkauf" or "Untergeschoss" stay whole, and neither does "Haus", whose compounds name a
  thing of the building rather than a house (Haustiere, Hausmeister, Hausflur); a feminine
  form splits as its noun (Hausmeisterin as Hausmeister, Packerinnen not as "Rinnen");
- of the possible splits, the one with the fewest parts wins, then the one with the longest
  last part (the head: "anmelde|Stelle" over "anmeldest|Elle"), then the longest parts (the
  sum of squared lengths).
"""

from __future__ import annotations

import bisect
import contextlib
import ctypes
import re
import threading
import time
import unicodedata
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

WORD_LIST = Path("/usr/share/dict/ngerman")  # Debian package wngerman
HUNSPELL_DIC = Path("/usr/share/hunspell/de_DE.dic")  # Debian package hunspell-de-de
PACKAGES = "wngerman hunspell-de-de"
# Words of the rental market that neither list knows (checked by tests/unit/test_german.py).
EXTRA_NOUNS = ("Carport", "Duplex", "Gaube", "Kiez", "Loft", "Maisonette", "Pantry", "Wallbox")

MIN_HEAD = 4  # a part before the last: at least this long, or a noun of MIN_NOUN_HEAD
MIN_NOUN_HEAD = 3
MIN_LAST = 4
MIN_COMPOUND = MIN_NOUN_HEAD + MIN_LAST
LINKS = ("", "s", "es", "n", "en", "er", "e")
# Endings of an inflected last part whose form the lists lack ("Wohnzimmern" -> Zimmer).
ENDINGS = ("n", "en", "s", "es", "e", "er", "ern", "nen")
MAX_WORD = 60  # longer tokens are not split (no real compound is; bounds the work)
CACHED_WORDS = 200_000
CACHED_QUERIES = 20_000

# Never the start of a part: articles, pronouns, prepositions, separable prefixes, particles
# (their "compounds" are derivations: Einkauf, Aufzug, Untergeschoss), and "haus".
NOT_HEADS = frozenset((
    "ab", "aber", "alle", "als", "am", "an", "auch", "auf", "aus", "bei", "beim", "bis", "da",
    "dar", "das", "dass", "dem", "den", "denn", "der", "deren", "des", "dessen", "die", "dies",
    "diese", "diesem", "diesen", "dieser", "doch", "dort", "du", "durch", "ein", "eine", "einem",
    "einen", "einer", "eines", "empor", "entgegen", "er", "es", "etwas", "euer", "fort", "für",
    "gegen", "her", "herab", "heran", "herauf", "heraus", "herein", "herum", "hier", "hin",
    "hinab", "hinauf", "hinaus", "hinein", "hinter", "hinunter", "ich", "ihr", "ihre", "im",
    "in", "ins", "jede", "jeder", "jedes", "kein", "keine", "los", "man", "mehr", "mein", "mit",
    "nach", "neben", "nicht", "nichts", "noch", "nur", "ob", "oder", "ohne", "seit", "sehr",
    "sein", "seine", "sie", "so", "über", "um", "und", "uns", "unser", "unter", "viel", "viele",
    "vom", "von", "vor", "voran", "vorbei", "was", "weg", "weil", "wenn", "wer", "wider", "wie",
    "wir", "wo", "zu", "zum", "zur", "zurück", "zwischen", "haus",
))  # fmt: skip

# Never the last part: the suffix -schaft (Nachbarschaft, Gemeinschaft), not the noun Schaft.
NOT_LASTS = frozenset({"schaft", "schaften"})
# Feminine forms of a noun (Mieterin, Packerinnen) are that noun, not a compound with "Rinnen".
FEMININE = ("innen", "in")

_LETTERS = re.compile(r"[^\W\d_]+")
# Stripped from a word before a look for letters (quotation marks by code point).
_EDGES = ".,;:!?()[]{}<>\"'«»„“”…*/\u201a\u2018\u2019"
_NOT_KEY = re.compile(r"[\W_]+")
_DIGRAPHS = re.compile(r"([aou])e+")


@dataclass(frozen=True, slots=True)
class Lexicon:
    """The dictionary as sorted hashes of lower-cased words (Python's string hash: stable
    within one process, which is all a per-process lexicon needs)."""

    nouns: array[int]  # words the lists write capitalised
    others: array[int]  # words they write in lower case, and verb stems (wasch, spül)
    load_seconds: float

    @property
    def nbytes(self) -> int:
        return self.nouns.itemsize * len(self.nouns) + self.others.itemsize * len(self.others)

    def is_noun(self, word: str) -> bool:
        return _has(self.nouns, word)

    def is_other(self, word: str) -> bool:
        return _has(self.others, word)


def _has(hashes: array[int], word: str) -> bool:
    h = hash(word)
    i = bisect.bisect_left(hashes, h)
    return i < len(hashes) and hashes[i] == h


def _lines(path: Path) -> Iterator[str]:
    """The file's lines one at a time (no copy of the whole list in memory)."""
    try:
        with path.open(encoding="utf-8") as lines:
            yield from lines
    except FileNotFoundError:
        raise FileNotFoundError(
            f"German dictionary {path} is missing: install the Debian packages {PACKAGES}"
        ) from None


def _part_only_flags(dic: Path) -> frozenset[str]:
    """The hunspell flags of entries that are no word on their own (ONLYINCOMPOUND, e.g.
    "bad" as in "Freibad"; NEEDAFFIX, e.g. "Abfahrts"), from the dictionary's .aff file."""
    flags = set()
    for line in _lines(dic.with_suffix(".aff")):
        name, _, value = line.partition(" ")
        if name in ("ONLYINCOMPOUND", "NEEDAFFIX") and value.strip():
            flags.add(value.strip())
    return frozenset(flags)


def _entries(paths: Iterable[Path]) -> Iterator[str]:
    """The words of the lists: a plain list has one a line, a hunspell .dic `word/flags` (its
    first line a count; entries flagged as parts only are left out)."""
    for path in paths:
        part_only = _part_only_flags(path) if path.suffix == ".dic" else frozenset()
        for line in _lines(path):
            word, _, flags = line.strip().partition("/")
            if word.isalpha() and not part_only.intersection(flags):
                yield unicodedata.normalize("NFC", word)


def _sorted(hashes: array[int] | np.ndarray) -> np.ndarray:
    return np.unique(np.asarray(hashes, dtype=np.int64))


def build_lexicon(paths: Iterable[Path] = (WORD_LIST, HUNSPELL_DIC)) -> Lexicon:
    """The lexicon of the word lists, built from hashes only: no set of ~500,000 strings
    (that left ~65 MB more in the process after it was freed)."""
    started = time.perf_counter()
    nouns, others = array("q"), array("q")
    # Candidate verb stems (wasch of waschen) with the hashes of their 2nd person plural.
    stems, stems_t, stems_et = array("q"), array("q"), array("q")
    for word in _entries(paths):
        if word.islower():
            others.append(hash(word))
            if word.endswith("en") and len(word) >= MIN_HEAD + 2:
                stem = word[:-2]
                stems.append(hash(stem))
                stems_t.append(hash(stem + "t"))
                stems_et.append(hash(stem + "et"))
        elif word[0].isupper() and (len(word) == 1 or word[1:].islower()):
            nouns.append(hash(word.lower()))  # not acronyms or names like "McDonald"
    nouns.extend(hash(word.lower()) for word in EXTRA_NOUNS)
    words = _sorted(others)
    # A stem is a verb's when its 2nd person plural is a word too (wasch-t, miet-et): not an
    # adverb such as "hinten" or "zwischen".
    verbs = np.isin(_sorted_view(stems_t), words) | np.isin(_sorted_view(stems_et), words)
    words = _sorted(np.concatenate([words, _sorted_view(stems)[verbs]]))
    return Lexicon(
        array("q", _sorted(nouns).tobytes()),
        array("q", words.tobytes()),
        time.perf_counter() - started,
    )


def _sorted_view(hashes: array[int]) -> np.ndarray:
    """The array's values as int64, in their order (no copy)."""
    return np.frombuffer(hashes, dtype=np.int64) if len(hashes) else np.zeros(0, np.int64)


_lexicon: Lexicon | None = None
_lexicon_lock = threading.Lock()


def lexicon() -> Lexicon:
    """The process's lexicon, loaded on first use (thread-safe)."""
    global _lexicon
    if _lexicon is None:
        with _lexicon_lock:
            if _lexicon is None:
                _lexicon = build_lexicon()
                _release_freed_memory()
    return _lexicon


def _release_freed_memory() -> None:
    """Give the build's freed temporaries back to the OS: glibc keeps them in the heap
    (measured: +19 MB of RSS after a load, +5.6 MB after this). Best effort, glibc only."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


# --- compounds --------------------------------------------------------------------------------

Split = tuple[tuple[int, int, int], tuple[str, ...]]  # (score, parts), smaller score is better


def _head_ok(lex: Lexicon, part: str) -> bool:
    if part in NOT_HEADS:
        return False
    if len(part) < MIN_HEAD:
        # Only a noun that is nothing else: Süd, Bad, Bus, but not alt or neu (Altstadt and
        # Neustadt stay whole: "alt" and "Stadt" are found in too many texts apart).
        return lex.is_noun(part) and not lex.is_other(part)
    return lex.is_noun(part) or lex.is_other(part)


def _last_ok(lex: Lexicon, part: str) -> bool:
    if len(part) < MIN_LAST or part in NOT_LASTS:
        return False
    if lex.is_noun(part):
        return True
    return any(
        part.endswith(ending)
        and len(part) - len(ending) >= MIN_LAST
        and lex.is_noun(part[: -len(ending)])
        for ending in ENDINGS
    )


def _best(lex: Lexicon, word: str, memo: dict[str, Split | None]) -> Split | None:
    """The best split of `word` (lower case) into two or more parts, or None."""
    if word in memo:
        return memo[word]
    best: Split | None = None
    for cut in range(MIN_NOUN_HEAD, len(word) - MIN_LAST + 1):
        head = word[:cut]
        if not _head_ok(lex, head):
            continue
        for link in LINKS:
            if not word.startswith(link, cut):
                continue
            rest = word[cut + len(link) :]
            tails: list[tuple[str, ...]] = []
            if _last_ok(lex, rest):
                tails.append((rest,))
            if len(rest) >= MIN_COMPOUND:
                deeper = _best(lex, rest, memo)
                if deeper is not None:
                    tails.append(deeper[1])
            for tail in tails:
                parts = (head, *tail)
                score = (len(parts), -len(parts[-1]), -sum(len(p) ** 2 for p in parts))
                if best is None or score < best[0]:
                    best = (score, parts)
    memo[word] = best
    return best


@lru_cache(maxsize=CACHED_WORDS)
def decompound(word: str) -> tuple[str, ...]:
    """The parts of a German compound, nouns capitalised ("Einbauküchen" -> ("Einbau",
    "Küchen")); () when `word` is not one (or not a single word)."""
    low = unicodedata.normalize("NFC", word).lower()
    if not (MIN_COMPOUND <= len(low) <= MAX_WORD) or not low.isalpha():
        return ()
    lex = lexicon()
    for suffix in FEMININE:
        if low.endswith(suffix) and lex.is_noun(low[: -len(suffix)]):
            low = low[: -len(suffix)]  # split the noun itself: Hausmeisterin -> Hausmeister
            break
    found = _best(lex, low, {})
    if found is None:
        return ()
    return tuple(p.capitalize() if lex.is_noun(p) or _last_ok(lex, p) else p for p in found[1])


def _all_parts(word: str, into: dict[str, str]) -> None:
    for part in decompound(word):
        into.setdefault(part.lower(), part)
        _all_parts(part, into)


_terms_cache: dict[str, tuple[str, ...]] = {}  # a plain dict: a third cheaper than lru_cache


def _terms(token: str) -> tuple[str, ...]:
    """The parts of `token` and, recursively, of its parts (Tiefgaragenstellplatz: Tiefgaragen,
    Stellplatz, Tief, Garagen, stell, Platz): a search for any of them finds the word."""
    terms = _terms_cache.get(token)
    if terms is None:
        found: dict[str, str] = {}
        _all_parts(token, found)
        terms = tuple(found.values())
        if len(_terms_cache) >= CACHED_WORDS:
            _terms_cache.clear()
        _terms_cache[token] = terms
    return terms


def compound_terms(text: str) -> str:
    """The parts of the compounds in `text`, space separated, each once (what is indexed in
    addition to the text itself)."""
    found: dict[str, str] = {}
    # split() and strip() before a regex: most words are plain letters (a third of the cost).
    for chunk in dict.fromkeys(unicodedata.normalize("NFC", text).split()):
        if len(chunk) < MIN_COMPOUND:
            continue
        word = chunk.strip(_EDGES)
        for token in (word,) if word.isalpha() else _LETTERS.findall(word):
            for part in _terms(token):
                found.setdefault(part.lower(), part)
    return " ".join(found.values())


# --- queries ----------------------------------------------------------------------------------

_TOKEN = re.compile(r"\S+")
_WORD_IN_TOKEN = re.compile(r"^([^\w\"-]*)([^\W\d_]+)([^\w\"-]*)$")


_SPELT_OUT = re.compile(r"([AaOoUu])[Ee]")
_UMLAUT = {"a": "ä", "o": "ö", "u": "ü", "A": "Ä", "O": "Ö", "U": "Ü"}


def with_umlauts(word: str) -> str:
    """`word` with ae/oe/ue written as ä/ö/ü when only that spelling is a German word or
    compound ("Kueche" -> "Küche", "Suedbalkon" -> "Südbalkon"; "neue" stays)."""
    if not _SPELT_OUT.search(word):
        return word
    lex = lexicon()
    low = word.lower()
    if lex.is_noun(low) or lex.is_other(low) or decompound(word):
        return word
    umlauted = _SPELT_OUT.sub(lambda m: _UMLAUT[m.group(1)], word)
    low = umlauted.lower()
    if lex.is_noun(low) or lex.is_other(low) or decompound(umlauted):
        return umlauted
    return word


def _expand_token(token: str) -> str:
    if token.startswith("-") or token.lower() == "or":
        # A negated compound stays whole: "-Einbauküche" excludes listings that name one, not
        # every listing that mentions a kitchen. `or` is websearch_to_tsquery's operator.
        return token
    match = _WORD_IN_TOKEN.match(token)
    if match is None:
        return token  # hyphenated or with digits: Postgres splits those itself
    word = with_umlauts(match.group(2))
    parts = decompound(word)
    return match.group(1) + (" ".join(parts) if parts else word) + match.group(3)


@lru_cache(maxsize=CACHED_QUERIES)
def expand_query(q: str) -> str:
    """The search text with every compound outside double quotes replaced by its parts
    ("Einbauküche" -> "Einbau Küche": both must match, websearch_to_tsquery ANDs them) and
    umlauts spelt out restored ("Kueche" -> "Küche": the stemmer knows only the umlaut);
    quoted phrases, `or` and negated words stay as written."""
    pieces = unicodedata.normalize("NFC", q).split('"')
    for i in range(0, len(pieces), 2):  # outside quotes (an unclosed quote runs to the end)
        pieces[i] = _TOKEN.sub(lambda m: _expand_token(m.group(0)), pieces[i])
    return '"'.join(pieces)


# --- place keys -------------------------------------------------------------------------------


def fold(text: str) -> str:
    """The key form of a name: case, Unicode form (NFC/NFD), accents and umlaut spelling do
    not matter ("München", "MÜNCHEN", "Muenchen", "Munchen" -> "munchen"); ß is ss;
    punctuation and runs of spaces are one space ("Halle (Saale)" -> "halle saale")."""
    text = unicodedata.normalize("NFKC", text).casefold()  # casefold: ß -> ss
    text = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    text = _DIGRAPHS.sub(r"\1", text)  # ae/oe/ue (the umlaut spelt out) -> a/o/u
    return _NOT_KEY.sub(" ", text).strip()
