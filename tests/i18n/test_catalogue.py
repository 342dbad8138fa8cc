"""The Spanish catalogue is complete: every string the code marks is translated, with its placeholders intact."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
CATALOGUE = ROOT / "locale" / "es" / "LC_MESSAGES" / "django.po"
# What `make messages` skips; the copy leaves out the same (and the catalogue itself, so extraction starts afresh).
NOT_EXTRACTED = (
    ".git",
    ".venv",
    ".tools",
    ".*_cache",
    ".hypothesis",
    "tests",
    "bench",
    "locale",
    "var",
    "node_modules",
)
NOT_EXTRACTED += ("__pycache__", "*.sqlite3")
PLACEHOLDER = re.compile(r"%\(\w+\)[sdr]|%%")


def _read(path: Path) -> Catalog:
    with path.open("rb") as file:
        return read_po(file, locale="es")


@pytest.fixture(scope="module")
def catalogue() -> Catalog:
    return _read(CATALOGUE)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """The strings marked in the code today, extracted by Django's makemessages from a copy of the project."""
    if shutil.which("xgettext") is None:
        if os.environ.get("TIERLINE_REQUIRE_GETTEXT") == "1":
            pytest.fail("TIERLINE_REQUIRE_GETTEXT=1 but xgettext is missing: apt-get install -y gettext")
        pytest.skip("xgettext is missing (apt-get install gettext), so the marked strings cannot be extracted")
    copy = tmp_path_factory.mktemp("extract") / "project"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(*NOT_EXTRACTED))
    subprocess.run(  # noqa: S603 - our own manage.py, run by this interpreter
        [sys.executable, "manage.py", "makemessages", "-l", "es", "--ignore=.venv", "--ignore=.tools"],
        cwd=copy,
        env={**os.environ, "DJANGO_DEBUG": "1", "DJANGO_SETTINGS_MODULE": "loyalty.settings"},
        check=True,
        capture_output=True,
    )
    return _read(copy / "locale" / "es" / "LC_MESSAGES" / "django.po")


def _key(message: Message) -> tuple[str, str | tuple[str, ...]]:
    return (message.context or "", message.id if isinstance(message.id, str) else tuple(message.id))


def test_every_marked_string_has_a_spanish_translation(extracted: Catalog, catalogue: Catalog) -> None:
    translated = {
        _key(message): message for message in catalogue if message.id and not message.fuzzy and all(message.string)
    }
    missing = [message.id for message in extracted if message.id and _key(message) not in translated]
    assert len(extracted) > 700
    assert missing == [], "run `make messages` and translate the new entries in locale/es/LC_MESSAGES/django.po"


def test_the_catalogue_has_no_fuzzy_empty_or_stale_entries(extracted: Catalog, catalogue: Catalog) -> None:
    current = {_key(message) for message in extracted if message.id}
    assert not catalogue.fuzzy
    assert [message.id for message in catalogue if message.id and message.fuzzy] == []
    assert [message.id for message in catalogue if message.id and not all(message.string)] == []
    assert [message.id for message in catalogue if message.id and _key(message) not in current] == []


def test_translations_keep_every_placeholder(catalogue: Catalog) -> None:
    wrong = []
    for message in catalogue:
        if not message.id:
            continue
        sources = [message.id] if isinstance(message.id, str) else list(message.id)
        translations = [message.string] if isinstance(message.string, str) else list(message.string)
        # The singular may leave the number out ("La fila con un error…"), as its English does; the plural may not.
        expected = sorted(PLACEHOLDER.findall(sources[-1]))
        for translation in translations[-1:]:
            if sorted(PLACEHOLDER.findall(translation)) != expected:
                wrong.append((message.id, translation))
        if len(sources) == 2 and set(PLACEHOLDER.findall(translations[0])) - set(PLACEHOLDER.findall(sources[0])):
            wrong.append((message.id, translations[0]))
    assert wrong == []
    assert [error for _message, errors in catalogue.check() for error in errors] == []


def test_plurals_have_the_two_spanish_forms(catalogue: Catalog) -> None:
    assert catalogue.num_plurals == 2
    plurals = [message for message in catalogue if message.pluralizable]
    assert len(plurals) > 20
    assert [message.id for message in plurals if len(message.string) != 2] == []
