"""One human label for each internal code, and one way to show a moment (issue 12 §3, STYLE "Summary list").

Codes (section ids, deadline kinds, statuses, benchmark ids...) stay in URLs, JSON, the API and the
database; pages show their label. The portal knows none of the codes of the layers above it, so each
app registers its own from its ``AppConfig.ready()``: a fixed table (``register``, with
``gettext_lazy`` texts) or a lookup (``register_source``) for labels that live in data, such as the
section titles of a framework version. A code nobody registered is still shown in words
(``bias_report`` → "Bias report"), never as the raw id.

``moment`` and ``day`` are the one text form of a date on pages and in messages built in Python; the
``when`` and ``day`` template filters (``portal.templatetags.portal_tags``) wrap them in ``<time>``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.functional import lazy
from django.utils.translation import gettext

Lookup = Callable[[str], "str | None"]

_tables: dict[str, dict[str, object]] = {}
_sources: dict[str, list[Lookup]] = {}
# Translators of texts read from data (a framework version's titles): a text in the active language, or None.
_translators: list[Lookup] = []

# "2 January 2027, 15:04 UTC": day, month in words, 24-hour time and the zone's abbreviation.
MOMENT_FORMAT = "j F Y, H:i T"
DAY_FORMAT = "j F Y"


def register(kind: str, labels: Mapping[str, object]) -> None:
    """Add labels for the codes of ``kind`` (later registrations win, so an app can refine)."""
    _tables.setdefault(kind, {}).update(labels)


def register_choices(kind: str, choices) -> None:
    """Register a model's ``TextChoices`` (or ``(value, label)`` pairs) under ``kind``."""
    register(kind, dict(getattr(choices, "choices", choices)))


def register_source(kind: str, lookup: Lookup) -> None:
    """Add a lookup consulted after the fixed table: it returns the label, or None if it has none."""
    sources = _sources.setdefault(kind, [])
    if lookup not in sources:
        sources.append(lookup)


def register_translator(translate: Lookup) -> None:
    """Add a translator of texts read from data, consulted before the catalogue (``data_text``)."""
    if translate not in _translators:
        _translators.append(translate)


def data_text(text: str) -> str:
    """A text read from data in the active language: a registered translator's (the framework
    versions' own translations), else the catalogue's, else the text as it is."""
    for translate in _translators:
        found = translate(text)
        if found:
            return found
    return gettext(text) if text else text


def _interpolate(message, params: Mapping) -> str:
    return str(message) % params


# ``lazy_interpolate(gettext_lazy("... %(n)s ..."), {"n": 3})``: the sentence translated when it is read,
# in the reader's language, not when it is built. For a text built in one person's request (or a
# worker) and read by others later, such as the context of ``notify()``, which writes each
# recipient's copy in their language. ``str()`` it where it is stored (an audit payload).
lazy_interpolate = lazy(_interpolate, str)


def humanize(code: object) -> str:
    """The fallback: ``bias_report`` → "Bias report" (no code ever reaches a page as it is)."""
    text = str(code).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def label(kind: str, code: object) -> str:
    """The human label of ``code`` of ``kind`` ("deadline_kind", "section", "application_status"...)."""
    if code is None or code == "":
        return ""
    key = str(code)
    found = _tables.get(kind, {}).get(key)
    if found is None:
        for lookup in _sources.get(kind, ()):
            found = lookup(key)
            if found:
                break
    if not found:
        return humanize(key)
    # Lazy texts translate themselves; texts read from data go through their translators and the catalogue.
    return data_text(found) if isinstance(found, str) else str(found)


def known(kind: str) -> dict[str, object]:
    """The fixed table of ``kind`` (for tests and forms)."""
    return dict(_tables.get(kind, {}))


def _local(value: dt.datetime) -> dt.datetime:
    if timezone.is_naive(value):
        value = timezone.make_aware(value, dt.UTC)
    return timezone.localtime(value)


def moment(value: dt.datetime | None) -> str:
    """A date and time in the active zone: "2 January 2027, 15:04 UTC"."""
    if value is None:
        return ""
    if not isinstance(value, dt.datetime):
        return day(value)
    return date_format(_local(value), MOMENT_FORMAT)


def day(value: dt.date | dt.datetime | None) -> str:
    """A date without a time: "2 January 2027" (a moment is first put in the active zone)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = _local(value).date()
    return date_format(value, DAY_FORMAT)


def iso_moment(value: dt.datetime) -> str:
    """The machine form for ``<time datetime>``: UTC, to the second, ``Z``."""
    return _local(value).astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def iso_day(value: dt.date | dt.datetime) -> str:
    if isinstance(value, dt.datetime):
        value = _local(value).date()
    return value.isoformat()
