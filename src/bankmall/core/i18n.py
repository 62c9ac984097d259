"""Translation catalogues without GNU gettext: extract, update, compile and check with Babel.

Each app keeps its own catalogue in ``<app>/locale/<locale>/LC_MESSAGES/django.po`` (Django
finds those for installed apps), so two apps never edit the same file. Usage::

    python -m bankmall.core.i18n update    # add new strings to every app's catalogue
    python -m bankmall.core.i18n compile   # write the .mo files
    python -m bankmall.core.i18n check     # fail if a string is untranslated or a .mo is stale

Django templates are read through Django's own ``templatize`` (what ``makemessages`` uses)
and the result through Babel's Python extractor, so ``{% translate %}`` and
``{% blocktranslate %}`` produce the same message ids as Django looks up at run time.

Problem classes (``BankmallError`` subclasses: a class body that sets ``code`` and ``title``)
are messages too: their ``title`` and their docstring (whitespace collapsed, see
``problem_meaning``) go into the owning app's catalogue, so the ``/problems/`` reference reads
in Chinese while API problem bodies keep the stable English titles.
"""

from __future__ import annotations

import ast
import io
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS
from babel.messages.extract import extract as babel_extract
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

PACKAGE_DIR: Final = Path(__file__).resolve().parent.parent
TARGET_LOCALES: Final = ("zh_Hans",)
DOMAIN: Final = "django"
KEYWORDS: Final = {
    **DEFAULT_KEYWORDS,
    "gettext_lazy": None,
    "ngettext_lazy": (1, 2),
    "pgettext": ((1, "c"), 2),
    "pgettext_lazy": ((1, "c"), 2),
    "npgettext": ((1, "c"), 2, 3),
    "npgettext_lazy": ((1, "c"), 2, 3),
}
_SKIPPED_DIRS: Final = {"migrations", "locale", "static", "__pycache__"}


@dataclass(frozen=True, slots=True)
class Message:
    msgid: str | tuple[str, ...]
    context: str | None
    location: tuple[str, int]


def app_dirs() -> list[Path]:
    """Every bankmall app folder (one with an ``apps.py``)."""
    return sorted(path.parent for path in PACKAGE_DIR.glob("*/apps.py"))


def _source_files(app_dir: Path) -> Iterator[Path]:
    for path in sorted(app_dir.rglob("*")):
        if _SKIPPED_DIRS.intersection(path.relative_to(app_dir).parts):
            continue
        if path.suffix in {".py", ".html", ".txt"} and path.is_file():
            yield path


def _python_source(path: Path) -> bytes:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".py":
        return text.encode("utf-8")
    from django.utils.translation.template import templatize  # noqa: PLC0415

    return templatize(text, origin=str(path)).encode("utf-8")


def problem_meaning(docstring: str) -> str:
    """A problem class's docstring as one line: the message id of its meaning."""
    return " ".join(docstring.split())


def _problem_texts(path: Path) -> Iterator[tuple[int, str]]:
    """``(line, text)`` for the title and docstring of every problem class in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        constants = {
            target.id: statement.value.value
            for statement in node.body
            if isinstance(statement, ast.Assign)
            and isinstance(statement.value, ast.Constant)
            and isinstance(statement.value.value, str)
            for target in statement.targets
            if isinstance(target, ast.Name)
        }
        if "code" not in constants or "title" not in constants:
            continue
        yield node.lineno, constants["title"]
        docstring = ast.get_docstring(node)
        if docstring:
            yield node.lineno, problem_meaning(docstring)


def extract(app_dir: Path) -> list[Message]:
    """All translatable messages in one app, in file and line order."""
    messages = []
    for path in _source_files(app_dir):
        source = io.BytesIO(_python_source(path))
        relative = str(path.relative_to(PACKAGE_DIR))
        for lineno, msgid, context in _extract_with_context(source):
            messages.append(Message(msgid=msgid, context=context, location=(relative, lineno)))
        if path.suffix == ".py":
            for lineno, text in _problem_texts(path):
                messages.append(Message(msgid=text, context=None, location=(relative, lineno)))
    return messages


def _extract_with_context(
    source: io.BytesIO,
) -> Iterator[tuple[int, str | tuple[str, ...], str | None]]:
    for lineno, message, _comments, context in babel_extract(
        "python", source, keywords=KEYWORDS, options={"encoding": "utf-8"}
    ):
        yield lineno, message, context


def _po_path(app_dir: Path, locale: str) -> Path:
    return app_dir / "locale" / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def _read_catalog(path: Path, locale: str) -> Catalog:
    if not path.exists():
        return Catalog(locale=locale, domain=DOMAIN, project="bankmall")
    with path.open("rb") as handle:
        return read_po(handle, locale=locale, domain=DOMAIN)


def update() -> list[str]:
    """Merge extracted messages into every app's catalogues; return the changed paths."""
    changed = []
    for app_dir in app_dirs():
        messages = extract(app_dir)
        if not messages:
            continue
        template = Catalog(domain=DOMAIN, project="bankmall")
        for message in messages:
            template.add(message.msgid, locations=[message.location], context=message.context)
        for locale in TARGET_LOCALES:
            path = _po_path(app_dir, locale)
            catalog = _read_catalog(path, locale)
            created = catalog.creation_date
            catalog.update(template, no_fuzzy_matching=True)
            # Keep the header date, so an update without new strings changes no file.
            catalog.creation_date = created
            catalog.obsolete.clear()
            path.parent.mkdir(parents=True, exist_ok=True)
            buffer = io.BytesIO()
            write_po(buffer, catalog, width=100, omit_header=False, sort_output=True)
            if not path.exists() or path.read_bytes() != buffer.getvalue():
                path.write_bytes(buffer.getvalue())
                changed.append(str(path.relative_to(PACKAGE_DIR)))
    return changed


def _compiled(po_path: Path, locale: str) -> bytes:
    catalog = _read_catalog(po_path, locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    return buffer.getvalue()


def _po_files() -> Iterator[tuple[Path, str]]:
    for app_dir in app_dirs():
        for locale in TARGET_LOCALES:
            path = _po_path(app_dir, locale)
            if path.exists():
                yield path, locale


def compile_all() -> list[str]:
    """Write every ``.mo`` next to its ``.po``; return the paths that changed."""
    changed = []
    for po_path, locale in _po_files():
        mo_path = po_path.with_suffix(".mo")
        compiled = _compiled(po_path, locale)
        if not mo_path.exists() or mo_path.read_bytes() != compiled:
            mo_path.write_bytes(compiled)
            changed.append(str(mo_path.relative_to(PACKAGE_DIR)))
    return changed


def check() -> list[str]:
    """Problems that would show an English string, or another app's word, on a Chinese page,
    one line each."""
    problems = []
    for locale in TARGET_LOCALES:
        problems.extend(_conflicts(locale))
    for app_dir in app_dirs():
        wanted = {
            (m.msgid if isinstance(m.msgid, str) else m.msgid[0], m.context): m
            for m in extract(app_dir)
        }
        for locale in TARGET_LOCALES:
            path = _po_path(app_dir, locale)
            if wanted and not path.exists():
                problems.append(f"{path.relative_to(PACKAGE_DIR)} is missing")
                continue
            if not path.exists():
                continue
            catalog = _read_catalog(path, locale)
            problems.extend(_catalog_problems(path, catalog, wanted))
            mo_path = path.with_suffix(".mo")
            if not mo_path.exists() or mo_path.read_bytes() != _compiled(path, locale):
                problems.append(f"{mo_path.relative_to(PACKAGE_DIR)} is stale; run compile")
    return problems


def _conflicts(locale: str) -> list[str]:
    """Messages two apps translate differently (same message id and context).

    Django merges every app's catalogue into one at run time, so only one of the translations
    is ever shown, on every page: a word that means two things needs a context
    (``{% translate "Name" context "person" %}``, ``pgettext``).
    """
    translations: dict[tuple[str, str | None], dict[str, str]] = {}
    for app_dir in app_dirs():
        path = _po_path(app_dir, locale)
        if not path.exists():
            continue
        for entry in _read_catalog(path, locale):
            if entry.id and entry.string:
                key = (entry.id if isinstance(entry.id, str) else entry.id[0], entry.context)
                translations.setdefault(key, {})[app_dir.name] = str(entry.string)
    return [
        f"{locale}: {msgid!r}"
        + (f" (context {context!r})" if context else "")
        + " is translated differently by "
        + ", ".join(f"{app} {text!r}" for app, text in sorted(by_app.items()))
        + "; Django shows only one of them: use one translation or a context"
        for (msgid, context), by_app in sorted(translations.items(), key=str)
        if len(set(by_app.values())) > 1
    ]


def _catalog_problems(
    path: Path, catalog: Catalog, wanted: dict[tuple[str, str | None], Message]
) -> list[str]:
    problems = []
    relative = path.relative_to(PACKAGE_DIR)
    for (msgid, context), message in sorted(wanted.items(), key=lambda item: item[1].location):
        entry = catalog.get(msgid, context=context)
        where = f"{message.location[0]}:{message.location[1]}"
        if entry is None:
            problems.append(f"{relative}: {msgid!r} ({where}) is not in the catalogue; run update")
        elif (
            entry.fuzzy
            or not entry.string
            or (isinstance(entry.string, tuple) and not all(entry.string))
        ):
            problems.append(f"{relative}: {msgid!r} ({where}) has no translation")
    return problems


def main(argv: list[str]) -> int:
    import django  # noqa: PLC0415

    django.setup()
    command = argv[0] if argv else ""
    if command == "update":
        for path in update():
            sys.stdout.write(f"updated {path}\n")
        return 0
    if command == "compile":
        for path in compile_all():
            sys.stdout.write(f"compiled {path}\n")
        return 0
    if command == "check":
        problems = check()
        for problem in problems:
            sys.stderr.write(problem + "\n")
        return 1 if problems else 0
    sys.stderr.write("usage: python -m bankmall.core.i18n update|compile|check\n")
    return 2


if __name__ == "__main__":
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bankmall.settings")
    sys.exit(main(sys.argv[1:]))
