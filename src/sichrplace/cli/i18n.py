"""`sichrplace i18n`: the message catalogs (Babel/gettext) of kit/i18n.py.

    sichrplace i18n extract   # the messages marked in the code -> locale/messages.pot
    sichrplace i18n update    # merge them into locale/{de,en}/LC_MESSAGES/messages.po
    sichrplace i18n check     # exit 1 if a catalog misses a message or leaves it untranslated
    sichrplace i18n translate de.json   # update, then set German texts {"msgid": "Text"}

`update` adds new messages with an empty German translation (fill it in) and the English text
as the English one (the message ids are English; edit it where the wording should differ),
marks translations of changed messages fuzzy, and keeps removed ones as obsolete entries.
`check` (also a test) fails on a message of the code that a catalog lacks, leaves empty or
marks fuzzy, on a translation whose `{placeholders}` differ from the message's, and on an
entry the code no longer has.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from pathlib import Path

import typer
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

from sichrplace.kit.i18n import (
    DOMAIN,
    LANGUAGES,
    LOCALE_DIR,
    LOCALES,
    Language,
    catalog_path,
    placeholders,
)

app = typer.Typer(no_args_is_help=True, help="Message catalogs (German and English).")

ROOT = LOCALE_DIR.parents[2]  # the repository (src/sichrplace/locale)
# N_/NP_ in Python; `_`/`n_` in the web pages' templates (web/rendering.py).
KEYWORDS = {"N_": None, "NP_": (1, 2), "_": None, "n_": (1, 2)}
TEMPLATE = LOCALE_DIR / f"{DOMAIN}.pot"


def extract() -> Catalog:
    """The messages the code marks, with where they are."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg, "babel.cfg")  # type: ignore[no-untyped-call]
    template = Catalog(project="SichrPlace", domain=DOMAIN, fuzzy=False)
    for filename, lineno, message, comments, context in extract_from_dir(
        ROOT, method_map, options_map, keywords=KEYWORDS
    ):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def _read(path: Path, language: str) -> Catalog:
    with path.open("rb") as po:
        return read_po(po, locale=LOCALES[language], domain=DOMAIN)  # type: ignore[index]


def _write(path: Path, catalog: Catalog) -> None:
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=100, sort_output=True, omit_header=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())


def _ids(message: Message) -> tuple[str, ...]:
    ids = message.id
    return tuple(str(i) for i in ids) if isinstance(ids, tuple | list) else (str(ids),)


def _strings(message: Message) -> tuple[str, ...]:
    string = message.string
    if isinstance(string, tuple | list):
        return tuple(str(s) for s in string)
    return (str(string or ""),)


def update() -> list[Path]:
    """Merge the code's messages into both catalogs; the files written."""
    template = extract()
    written = []
    for language in LANGUAGES:
        path = catalog_path(language)
        catalog = (
            _read(path, language)
            if path.exists()
            else Catalog(locale=LOCALES[language], domain=DOMAIN, project="SichrPlace")
        )
        # English: a changed message takes its new id as text, not an old text marked fuzzy.
        catalog.update(template, no_fuzzy_matching=language == "en", update_creation_date=False)
        if language == "en":
            for message in catalog:
                if message.id and not any(_strings(message)):
                    ids = _ids(message)
                    message.string = ids if len(ids) > 1 else ids[0]
        _write(path, catalog)
        written.append(path)
    return written


def problems(paths: Mapping[Language, Path] | None = None) -> Iterator[str]:
    """What is wrong with the catalogs (`paths`: other files than the package's), against
    the code's messages; nothing when all is well."""
    template = extract()
    wanted = {_ids(m) for m in template if m.id}
    for language in LANGUAGES:
        path = (paths or {}).get(language) or catalog_path(language)
        if not path.exists():
            yield f"{language}: {path} is missing (run `sichrplace i18n update`)"
            continue
        catalog = _read(path, language)
        have = {}
        for message in catalog:
            if message.id:
                have[_ids(message)] = message
        for ids in sorted(wanted - have.keys()):
            yield f"{language}: missing {ids[0]!r}"
        for ids in sorted(have.keys() - wanted):
            yield f"{language}: not in the code any more {ids[0]!r} (run update)"
        for ids, message in sorted(have.items()):
            if ids not in wanted:
                continue
            strings = _strings(message)
            if message.fuzzy:
                yield f"{language}: fuzzy {ids[0]!r}"
            elif not all(strings):
                yield f"{language}: untranslated {ids[0]!r}"
            elif not _same_placeholders(ids, strings):
                yield f"{language}: placeholders differ in {ids[0]!r}"


def _same_placeholders(ids: tuple[str, ...], strings: tuple[str, ...]) -> bool:
    """A translation keeps the message's placeholders; a plural form may leave out those of
    the count ("one message" for "{n} messages") but may use no other."""
    if len(ids) == 1:
        return all(placeholders(s) == placeholders(ids[0]) for s in strings)
    allowed = frozenset().union(*(placeholders(i) for i in ids))
    return all(placeholders(s) <= allowed for s in strings)


@app.command("extract")
def extract_command() -> None:
    """Write the code's messages to locale/messages.pot (for translation tools)."""
    _write(TEMPLATE, extract())
    typer.echo(f"i18n: {TEMPLATE.relative_to(ROOT)}")


@app.command("update")
def update_command() -> None:
    """Merge the code's messages into the German and English catalogs."""
    for path in update():
        typer.echo(f"i18n: updated {path.relative_to(ROOT)}")


@app.command("translate")
def translate_command(
    path: Path = typer.Argument(..., help='JSON: {"English id": "German", ...}; a plural: a list'),
    language: str = typer.Option("de", help="the catalog to fill (de or en)"),
) -> None:
    """`update`, then set the given translations (under a lock: parallel runs wait their turn)."""
    import fcntl
    import json

    texts = json.loads(path.read_text(encoding="utf-8"))
    if language not in LANGUAGES or not isinstance(texts, dict):
        raise typer.BadParameter("a JSON object and a language of ours")
    with (LOCALE_DIR / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        update()
        catalog_file = catalog_path(language)
        catalog = _read(catalog_file, language)
        unknown = []
        for msgid, text in texts.items():
            message = next((m for m in catalog if m.id and _ids(m)[0] == msgid), None)
            if message is None:
                unknown.append(msgid)
                continue
            message.string = tuple(text) if isinstance(text, list) else text
            message.flags.discard("fuzzy")
        _write(catalog_file, catalog)
    typer.echo(f"i18n: {len(texts) - len(unknown)} set in {catalog_file.relative_to(ROOT)}")
    for msgid in unknown:
        typer.echo(f"i18n: not in the code (mark it first): {msgid!r}", err=True)


@app.command("check")
def check_command() -> None:
    """Exit 1 if a catalog misses a message, leaves one untranslated or fuzzy."""
    found = list(problems())
    for line in found:
        typer.echo(line, err=True)
    if found:
        raise typer.Exit(1)
    typer.echo("i18n: both catalogs are complete")
