"""The French catalogue is whole (issue 17): every message translated, the compiled catalogue
matches the source, placeholders kept, and ``makemessages`` finds nothing that is not in it."""

from __future__ import annotations

import gettext
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

ROOT = Path(settings.BASE_DIR)
PO = ROOT / "locale" / "fr" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
MAKEMESSAGES_IGNORE = [".venv", "var", "tests", "bench", "node_modules", "static/vendor"]


def _unquote(lines: list[str]) -> str:
    return "".join(bytes(line.strip()[1:-1], "utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8")
                   for line in lines)


def parse_po(path: Path) -> list[dict]:
    """The entries of a .po file: msgctxt, msgid, msgid_plural, msgstr (a list), flags."""
    entries, entry, key = [], None, None
    for raw in path.read_text("utf-8").splitlines() + [""]:
        line = raw.strip()
        if not line:
            if entry is not None:
                entries.append(entry)
            entry, key = None, None
            continue
        if entry is None:
            entry = {"msgctxt": None, "msgid": [], "msgid_plural": None, "msgstr": {}, "flags": set()}
        if line.startswith("#,"):
            entry["flags"] |= {f.strip() for f in line[2:].split(",")}
        elif line.startswith("#"):
            continue
        elif line.startswith("msgctxt "):
            entry["msgctxt"], key = [line[8:]], "msgctxt"
        elif line.startswith("msgid_plural "):
            entry["msgid_plural"], key = [line[13:]], "msgid_plural"
        elif line.startswith("msgid "):
            entry["msgid"], key = [line[6:]], "msgid"
        elif line.startswith("msgstr"):
            index = int(line[7]) if line.startswith("msgstr[") else 0
            entry["msgstr"][index] = [line.split(" ", 1)[1]]
            key = ("msgstr", index)
        elif line.startswith('"'):
            target = entry["msgstr"][key[1]] if isinstance(key, tuple) else entry[key]
            target.append(line)
    result = []
    for e in entries:
        result.append({
            "msgctxt": _unquote(e["msgctxt"]) if e["msgctxt"] is not None else None,
            "msgid": _unquote(e["msgid"]),
            "msgid_plural": _unquote(e["msgid_plural"]) if e["msgid_plural"] is not None else None,
            "msgstr": [_unquote(e["msgstr"][i]) for i in sorted(e["msgstr"])],
            "flags": e["flags"],
        })
    return [e for e in result if e["msgid"]]  # the header has an empty msgid


def used(entry: dict) -> bool:
    """Whether the compiled catalogue carries the entry (msgfmt leaves out untranslated and fuzzy ones)."""
    return all(entry["msgstr"]) and "fuzzy" not in entry["flags"]


PLACEHOLDER = re.compile(r"%\([a-z_0-9]+\)[sdfr]|%[sd]|\{[a-z_0-9]*(?:![rs])?\}|</?[a-z][a-z0-9]*")


def placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


@pytest.fixture(scope="module")
def entries() -> list[dict]:
    return parse_po(PO)


def test_every_message_is_translated_and_none_is_fuzzy(entries):
    assert "fr" in dict(settings.LANGUAGES), "French is switched on: its catalogue must be whole"
    untranslated = [e["msgid"][:80] for e in entries if not all(e["msgstr"])]
    fuzzy = [e["msgid"][:80] for e in entries if "fuzzy" in e["flags"]]
    assert not untranslated, f"{len(untranslated)} untranslated, e.g. {untranslated[:10]}"
    assert not fuzzy, f"{len(fuzzy)} fuzzy, e.g. {fuzzy[:10]}"


def test_translations_keep_every_placeholder_and_tag(entries):
    broken = []
    for e in entries:
        if not used(e):
            continue
        for i, text in enumerate(e["msgstr"]):
            source = e["msgid_plural"] if i and e["msgid_plural"] is not None else e["msgid"]
            found, wanted = placeholders(text), placeholders(source)
            # A plural's singular may name the count in words ("un fichier") instead of %(n)s.
            if found != wanted and not (e["msgid_plural"] is not None and set(found) <= set(wanted)):
                broken.append((e["msgid"][:60], wanted, found))
    assert not broken, broken[:10]


def test_the_compiled_catalogue_matches_the_source(entries):
    with MO.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    mismatched = []
    for e in entries:
        if e["msgid_plural"] is not None:
            key = (e["msgid"], e["msgid_plural"])
            got = [compiled.npgettext(e["msgctxt"], *key, n) if e["msgctxt"] else compiled.ngettext(*key, n)
                   for n in (1, 2)]
            want = e["msgstr"][:2] if used(e) else [e["msgid"], e["msgid_plural"]]
        else:
            got = [compiled.pgettext(e["msgctxt"], e["msgid"]) if e["msgctxt"] else compiled.gettext(e["msgid"])]
            want = e["msgstr"][:1] if used(e) else [e["msgid"]]
        if got != want:
            mismatched.append(e["msgid"][:60])
    assert not mismatched, f"run `make messages` ({len(mismatched)} stale, e.g. {mismatched[:5]})"


def project_copy(tmp_path: Path) -> Path:
    """A folder that reads as the project to ``makemessages``: a symlink to each of the project's
    sources and its own ``locale/`` holding a copy of the catalogue. Run from the project root,
    makemessages writes into the real ``locale/`` (a file goes to the locale folder whose parent holds
    it, and ``./locale`` is always one), so the check would change what it checks."""
    top = tmp_path / "project"
    (top / "locale" / "fr" / "LC_MESSAGES").mkdir(parents=True)
    shutil.copy(PO, top / "locale" / "fr" / "LC_MESSAGES" / "django.po")
    for entry in ROOT.iterdir():
        if entry.name.startswith(".") or entry.name == "locale" or entry.name in MAKEMESSAGES_IGNORE:
            continue
        (top / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    return top


def new_and_gone(top: Path, settings, entries: list[dict]) -> tuple[list[str], list[str]]:
    """Run makemessages in ``project_copy`` ``top``: the messages it adds to the catalogue and drops."""
    settings.LOCALE_PATHS = [top / "locale"]
    cwd = os.getcwd()
    os.chdir(top)
    try:
        call_command("makemessages", locale=["fr"], ignore_patterns=MAKEMESSAGES_IGNORE, no_obsolete=True,
                     symlinks=True, verbosity=0)
    finally:
        os.chdir(cwd)
    before = {(e["msgctxt"], e["msgid"], e["msgid_plural"]) for e in entries}
    after = {(e["msgctxt"], e["msgid"], e["msgid_plural"])
             for e in parse_po(top / "locale" / "fr" / "LC_MESSAGES" / "django.po")}
    return sorted(m[1][:60] for m in after - before), sorted(m[1][:60] for m in before - after)


needs_gettext = pytest.mark.skipif(shutil.which("xgettext") is None and os.environ.get("CI") != "true",
                                   reason="needs GNU gettext")


@needs_gettext
def test_makemessages_finds_nothing_new(tmp_path, settings, entries):
    """Every marked string of the project is in the catalogue (run `make messages` after adding one)."""
    real = PO.read_bytes(), MO.read_bytes()
    new, gone = new_and_gone(project_copy(tmp_path), settings, entries)
    assert (PO.read_bytes(), MO.read_bytes()) == real, "makemessages wrote into the project's own catalogue"
    assert not new and not gone, f"run `make messages`: {len(new)} new or changed, e.g. {new[:10]}; " \
                                 f"{len(gone)} no longer used, e.g. {gone[:5]}"
    assert subprocess.run(["msgfmt", "-c", "-o", "/dev/null", str(PO)], capture_output=True).returncode == 0


@needs_gettext
def test_makemessages_in_the_copy_sees_a_new_string(tmp_path, settings, entries):
    """The check above can fail: a template added to the copy brings its new message."""
    top = project_copy(tmp_path)
    (top / "templates").unlink()
    shutil.copytree(ROOT / "templates", top / "templates", symlinks=True)
    (top / "templates" / "zz_new.html").write_text('{% load i18n %}{% translate "A message nobody marked before" %}')
    real = PO.read_bytes()
    new, gone = new_and_gone(top, settings, entries)
    assert PO.read_bytes() == real
    assert new == ["A message nobody marked before"] and gone == []
