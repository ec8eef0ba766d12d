"""The framework's own texts in the reader's language (issue 17): tier labels, classification rule
texts, capability and domain labels, requirement titles, descriptions and tier details, attestation
statements, benchmark labels, deadline titles and what happens when a deadline passes.

A version's texts are English. Its other languages live in the version's data, in a
``translations`` block keyed by language and then by *text path*::

    "translations": {"fr": {"requirements.model_card.title": "Fiche du modèle", ...}}

A text path names one text the way the data is laid out: ``<list>.<entry key>.<field>``, the
entry key being the entry's ``id`` (``tier`` for tiers, ``number`` for attestation statements,
``kind`` for deadlines), e.g. ``tiers.3.label``, ``classification.rules.params_gt_70b.text``,
``requirements.third_party_audit.tier_details.4.text``, ``attestation_statements.2.text``,
``deadlines.audit_report.title``. ``text_paths(rules)`` lists every translatable text of a version.

A text is looked up (``localized``, ``in_language``) in this order:
1. the version's ``translations`` block for the language;
2. the gettext catalogue's translation of the English text (how 2025.1, published before versions
   carried translations, gets its French: its block would change its published digest, so its
   English texts are marked with ``gettext_noop`` in ``data.py`` instead);
3. the English text.

The block is part of the rules, so the canonical digest of a version covers all its languages. The
signed attestation and the filed attestation record read the rules as stored (English, ids and
numbers), never ``in_language``: only pages localize.
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.utils import translation
from django.utils.translation import gettext, gettext_noop

BLOCK = "translations"

# Groups of texts, in the order of a version's page and of the staff translation form.
GROUPS = {
    "tiers": gettext_noop("Tiers"),
    "classification": gettext_noop("Tier classification"),
    "requirements": gettext_noop("Requirements"),
    "statements": gettext_noop("Attestation statements"),
    "benchmarks": gettext_noop("Benchmarks"),
    "deadlines": gettext_noop("Deadlines"),
}
FIELD_NAMES = {
    "label": gettext_noop("label"),
    "title": gettext_noop("title"),
    "description": gettext_noop("description"),
    "hint": gettext_noop("hint"),
    "help": gettext_noop("help text"),
    "text": gettext_noop("text"),
    "headline_metric": gettext_noop("headline metric"),
    "on_due_text": gettext_noop("when it passes"),
}


@dataclass(frozen=True)
class Text:
    """One translatable text of a version: its path, its English, and where it is, in words."""

    path: str
    english: str
    group: str
    entry: dict
    field: str
    place: tuple[str, dict]  # a message with its parameters: where() reads it in the active language

    def where(self) -> str:
        template, params = self.place
        return gettext(template) % {**params, "field": gettext(FIELD_NAMES.get(self.field, self.field))}


def _entries(container: Any, key: str) -> Iterator[tuple[str, dict]]:
    """``(entry key, entry)`` for every entry of a list of dicts that has its key."""
    if not isinstance(container, list):
        return
    for entry in container:
        if isinstance(entry, dict) and entry.get(key) not in (None, ""):
            yield str(entry[key]), entry


def _texts(group: str, prefix: str, entry: dict, fields: tuple[str, ...], place: tuple[str, dict]) -> Iterator[Text]:
    for name in fields:
        value = entry.get(name)
        if isinstance(value, str) and value.strip():
            yield Text(f"{prefix}.{name}", value, group, entry, name, place)


def _walk(rules: dict) -> Iterator[Text]:
    """Every translatable text of ``rules``, in the order of the version's page."""
    if not isinstance(rules, dict):
        return
    for key, entry in _entries(rules.get("tiers"), "tier"):
        yield from _texts("tiers", f"tiers.{key}", entry, ("label", "description"),
                          (gettext_noop("Tier %(tier)s: %(field)s"), {"tier": key}))
    spec = rules.get("classification") if isinstance(rules.get("classification"), dict) else {}
    for key, entry in _entries(spec.get("rules"), "id"):
        yield from _texts("classification", f"classification.rules.{key}", entry, ("text",),
                          (gettext_noop("Classification rule (Tier %(tier)s)"), {"tier": entry.get("tier")}))
    for key, entry in _entries(spec.get("capabilities"), "id"):
        yield from _texts("classification", f"classification.capabilities.{key}", entry, ("label", "description"),
                          (gettext_noop("Capability: %(field)s"), {}))
    for key, entry in _entries(spec.get("sensitive_domains"), "id"):
        yield from _texts("classification", f"classification.sensitive_domains.{key}", entry,
                          ("label", "description"), (gettext_noop("Sensitive domain: %(field)s"), {}))
    for key, entry in _entries(rules.get("requirements"), "id"):
        name = {"name": entry.get("title") or key}
        prefix = f"requirements.{key}"
        yield from _texts("requirements", prefix, entry, ("title", "description", "hint"),
                          (gettext_noop("Requirement “%(name)s”: %(field)s"), name))
        for tier, detail in _entries(entry.get("tier_details"), "tier"):
            yield from _texts("requirements", f"{prefix}.tier_details.{tier}", detail, ("text",),
                              (gettext_noop("Requirement “%(name)s”: what Tier %(tier)s needs"),
                               {**name, "tier": tier}))
        for field_id, field in _entries(entry.get("fields"), "id"):
            yield from _texts("requirements", f"{prefix}.fields.{field_id}", field, ("label", "help"),
                              (gettext_noop("Requirement “%(name)s”: a field's %(field)s"), name))
    for key, entry in _entries(rules.get("attestation_statements"), "number"):
        yield from _texts("statements", f"attestation_statements.{key}", entry, ("text",),
                          (gettext_noop("Statement %(number)s"), {"number": key}))
    benchmarks = rules.get("benchmarks") if isinstance(rules.get("benchmarks"), dict) else {}
    for key, entry in _entries(benchmarks.get("categories"), "id"):
        yield from _texts("benchmarks", f"benchmarks.categories.{key}", entry, ("label",),
                          (gettext_noop("Benchmark category: %(field)s"), {}))
    for key, entry in _entries(benchmarks.get("catalogue"), "id"):
        yield from _texts("benchmarks", f"benchmarks.catalogue.{key}", entry, ("headline_metric",),
                          (gettext_noop("Benchmark %(name)s: %(field)s"), {"name": entry.get("name") or key}))
    for key, entry in _entries(benchmarks.get("run_by"), "id"):
        yield from _texts("benchmarks", f"benchmarks.run_by.{key}", entry, ("label",),
                          (gettext_noop("Who ran a benchmark: %(field)s"), {}))
    for key, entry in _entries(rules.get("deadlines"), "kind"):
        yield from _texts("deadlines", f"deadlines.{key}", entry, ("title", "on_due_text"),
                          (gettext_noop("Deadline “%(name)s”: %(field)s"),
                           {"name": entry.get("title") or key}))


def texts_of(rules: dict) -> list[Text]:
    """Every translatable text of a version, in page order."""
    return list(_walk(rules))


def text_paths(rules: dict) -> dict[str, str]:
    """``{path: English text}`` for every translatable text of a version, in page order."""
    return {t.path: t.english for t in _walk(rules)}


# --- languages -------------------------------------------------------------------------------------


def default_language() -> str:
    return settings.LANGUAGE_CODE.split("-")[0].lower()


def translation_languages() -> list[tuple[str, str]]:
    """``(code, name)`` of every language a version's texts can be translated into: all the portal
    has (``ALL_LANGUAGES``, also the ones not switched on yet) but English."""
    return [(code, name) for code, name in settings.ALL_LANGUAGES if code != default_language()]


def _language(language: str | None) -> str:
    code = language or translation.get_language() or settings.LANGUAGE_CODE
    return code.split("-")[0].lower()


def own_translations(rules: dict, language: str) -> dict[str, str]:
    """The version's own translations into ``language`` (its ``translations`` block), non-empty ones only."""
    block = rules.get(BLOCK) if isinstance(rules, dict) else None
    texts = block.get(language) if isinstance(block, dict) else None
    if not isinstance(texts, dict):
        return {}
    return {path: text for path, text in texts.items() if isinstance(text, str) and text.strip()}


def catalogue_text(english: str, language: str) -> str | None:
    """The catalogue's translation of an English text, or None when it has none."""
    with translation.override(language):
        found = gettext(english)
    return found if found != english else None


def _lookup(own: dict[str, str], path: str, english: str) -> str:
    """Block, catalogue (in the active language), English."""
    if path in own:
        return own[path]
    found = gettext(english)
    return found if found else english


def localized(rules: dict, path: str, language: str | None = None) -> str:
    """One text of a version in ``language`` (default: the active one), with English as the fallback.
    ``KeyError`` for a path that names no text of the version."""
    english = text_paths(rules)[path]
    language = _language(language)
    if language == default_language():
        return english
    with translation.override(language):
        return _lookup(own_translations(rules, language), path, english)


def in_language(rules: dict, language: str | None = None) -> dict:
    """A copy of the rules with every text in ``language`` (default: the active one), for pages.
    The rules themselves when the language is English. Never hash, sign or store the result."""
    language = _language(language)
    if language == default_language() or not isinstance(rules, dict):
        return rules
    result = copy.deepcopy(rules)
    own = own_translations(rules, language)
    with translation.override(language):
        for text in list(_walk(result)):
            text.entry[text.field] = _lookup(own, text.path, text.english)
    return result


def missing(rules: dict) -> list[tuple[str, str, list[Text]]]:
    """``(code, name, texts)`` per translation language: the texts the version's data does not
    translate (shown from the catalogue where it has them, else in English)."""
    texts = texts_of(rules)
    result = []
    for code, name in translation_languages():
        own = own_translations(rules, code)
        result.append((code, name, [t for t in texts if t.path not in own]))
    return result


def carried_translations(rules: dict) -> dict[str, dict[str, str]]:
    """The translations a new draft copied from ``rules`` starts with: the version's own, and for
    the texts it does not translate, the catalogue's (2025.1's texts), so that versions drafted from
    now on carry all their languages in their data (and their digest)."""
    result: dict[str, dict[str, str]] = {}
    texts = texts_of(rules)
    for code, _name in translation_languages():
        own = own_translations(rules, code)
        carried = {}
        for text in texts:
            found = own.get(text.path) or catalogue_text(text.english, code)
            if found:
                carried[text.path] = found
        if carried:
            result[code] = carried
    return result


# --- checks ----------------------------------------------------------------------------------------

PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def validate_translations(rules: dict) -> None:
    """Raise ``ValueError`` for a ``translations`` block the pages could not use: not an object of
    languages the portal has, a path that names no text of the version, a text that is not a string,
    or one that drops or adds a ``{placeholder}`` of the English text (``{label}`` of a rule)."""
    if BLOCK not in rules:
        return
    block = rules[BLOCK]
    if not isinstance(block, dict):
        raise ValueError("translations must be an object keyed by language code")
    languages = dict(translation_languages())
    paths = text_paths(rules)
    for language, texts in block.items():
        if language not in languages:
            raise ValueError(f"translations: unknown language {language!r}; one of {', '.join(languages)}")
        if not isinstance(texts, dict):
            raise ValueError(f"translations.{language} must be an object of text paths and texts")
        for path, text in texts.items():
            if path not in paths:
                raise ValueError(f"translations.{language}: {path!r} names no text of this version")
            if not isinstance(text, str):
                raise ValueError(f"translations.{language}.{path} must be a string")
            if text.strip() and sorted(PLACEHOLDER.findall(text)) != sorted(PLACEHOLDER.findall(paths[path])):
                raise ValueError(f"translations.{language}.{path} must keep the placeholders of the English "
                                 f"text ({', '.join(PLACEHOLDER.findall(paths[path])) or 'none'})")


# --- texts known from every stored version (labels shown without a version at hand) ----------------

_REFRESH_SECONDS = 60
_memory: dict[str, Any] = {"at": None, "texts": {}}


def forget() -> None:
    """Drop the cached translations of the stored versions (after a version's texts change)."""
    _memory.update(at=None, texts={})


def _stored() -> dict[str, dict[str, str]]:
    now = time.monotonic()
    if _memory["at"] is not None and now - _memory["at"] < _REFRESH_SECONDS:
        return _memory["texts"]
    from certification.framework.models import FrameworkVersion

    known: dict[str, dict[str, str]] = {}
    try:
        # Published versions only (a draft's texts are work in progress), oldest first: a later
        # version's translation of the same English text wins.
        published = FrameworkVersion.objects.published().order_by("effective_from", "pk")
        for rules in published.values_list("rules", flat=True):
            if not isinstance(rules, dict) or not rules.get(BLOCK):
                continue
            paths = text_paths(rules)
            for code, _name in translation_languages():
                for path, text in own_translations(rules, code).items():
                    if path in paths:
                        known.setdefault(code, {})[paths[path]] = text
    except DatabaseError:  # before migrations, or a database that is not reachable yet
        return {}
    _memory.update(at=now, texts=known)
    return known


def translate_from_versions(english: str) -> str | None:
    """A framework text known only by its English (a section title or deadline title shown through
    ``portal.labels``) in the active language, from the stored versions' translations; None when no
    version translates it (``portal.labels`` then asks the catalogue)."""
    language = _language(None)
    if language == default_language() or not isinstance(english, str):
        return None
    return _stored().get(language, {}).get(english)


def translate(english: str, language: str | None = None) -> str:
    """A framework text known only by its English, in ``language`` (default: the active one):
    the stored versions' translations, then the catalogue, then English."""
    language = _language(language)
    if language == default_language():
        return english
    with translation.override(language):
        return translate_from_versions(english) or gettext(english)
