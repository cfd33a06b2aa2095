"""The catalogs' upkeep: the phrases marked in coach's code, each language's .po file brought
up to date with them, and what is left to translate.

    python -m coach.words.catalogs           # update every .po from the code, then check
    python -m coach.words.catalogs --check   # only check (exit 1 when a catalog is not done)

Updating adds the new phrases (empty, or fuzzy with Babel's guess from a similar one), keeps
the translations of those that stayed, and drops the ones the code no longer says. A
translator then fills in the empty and fuzzy entries. The template (.pot) is made in memory
and never written: it is generated, and the .po files are what is kept.

Used by the tests too (tests/test_words.py), so "complete" means the same in both places.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from coach.words import (
    COMMENT_TAGS,
    DOMAIN,
    KEYWORDS,
    LANGUAGES,
    SOURCE_LANGUAGE,
    catalog_path,
)

if TYPE_CHECKING:
    from babel.messages.catalog import Catalog

_PACKAGE = Path(__file__).resolve().parent.parent  # coach/


def template() -> Catalog:
    """Every phrase marked in coach's code, as a catalog with no translations."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_dir

    catalog = Catalog(domain=DOMAIN, project="coach", charset="utf-8")
    found = extract_from_dir(
        str(_PACKAGE),
        method_map=[("**.py", "python")],
        keywords=KEYWORDS,
        comment_tags=COMMENT_TAGS,
        strip_comment_tags=True,
    )
    for filename, lineno, message, comments, context in found:
        where = f"coach/{Path(filename).as_posix()}"
        catalog.add(message, None, [(where, lineno)], auto_comments=comments, context=context)
    return catalog


def read(code: str) -> Catalog:
    from babel.messages.pofile import read_po

    with open(catalog_path(code), "rb") as f:
        return read_po(f, locale=code, domain=DOMAIN)


def write(code: str, catalog: Catalog) -> None:
    from babel.messages.pofile import write_po

    out = io.BytesIO()
    # No line numbers in the references: a phrase moving in the code changes no catalog.
    write_po(out, catalog, width=100, include_lineno=False, sort_output=False)
    catalog_path(code).write_bytes(out.getvalue())


def update() -> None:
    """Bring every language's catalog up to date with the code (a new one is started)."""
    from babel.messages.catalog import Catalog

    pot = template()
    for lang in LANGUAGES:
        if lang.code == SOURCE_LANGUAGE:
            continue
        path = catalog_path(lang.code)
        if path.exists():
            catalog = read(lang.code)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            catalog = Catalog(locale=lang.code, domain=DOMAIN, project="coach", charset="utf-8")
        created = catalog.creation_date
        catalog.update(pot)
        catalog.creation_date = created  # a date that changed on every run would be noise
        catalog.obsolete.clear()  # gone from the code: nothing to keep them for
        write(lang.code, catalog)


def unfinished(code: str) -> list[str]:
    """What keeps `code`'s catalog from being complete: a phrase of the code missing from it,
    not translated or fuzzy; a phrase it has that the code does not say."""
    pot = template()
    catalog = read(code)
    problems = []
    for message in pot:
        if not message.id:
            continue
        mine = catalog.get(message.id, message.context)
        shown = message.id if isinstance(message.id, str) else message.id[0]
        if mine is None:
            problems.append(f"missing: {shown!r}")
        elif mine.fuzzy:
            problems.append(f"fuzzy: {shown!r}")
        elif not all(mine.string if isinstance(mine.string, tuple) else (mine.string,)):
            problems.append(f"not translated: {shown!r}")
    for message in catalog:
        if message.id and pot.get(message.id, message.context) is None:
            problems.append(f"not in the code: {message.id!r}")
    return problems


def main(argv: list[str]) -> int:
    if "--check" not in argv:
        update()
    failed = False
    for lang in LANGUAGES:
        if lang.code == SOURCE_LANGUAGE:
            continue
        problems = unfinished(lang.code)
        failed = failed or bool(problems)
        status = "complete" if not problems else f"{len(problems)} to do"
        print(f"{catalog_path(lang.code).relative_to(_PACKAGE.parent)}: {status}")
        for p in problems:
            print(f"  {p}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
