"""The framework's labels for the portal's label registry (``portal.labels``), registered at start-up.

Section, capability, domain and benchmark titles are data of a framework version: 2025.1's are
registered as a table, and a lookup reads the stored versions (refreshed at most once a minute) so a
section added by a later version is shown with that version's title. They are shown in the reader's
language: the versions' own translations (``texts.translate_from_versions``), else the catalogue.
"""

from __future__ import annotations

import time

from django.db import DatabaseError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from certification.framework import texts
from certification.framework.data import FRAMEWORK_2025_1
from portal import labels

# Codes of the benchmark catalogue's ``better_when`` (data.py), in words.
BETTER_WHEN = {
    "lower": _("lower is better"),
    "higher": _("higher is better"),
    "closer_to": _("closer to the target is better"),
    "higher_grade": _("a higher grade is better"),
}


def localized(message: str) -> str:
    """A classifier message (``tiers.Message``) in the reader's language; any other text as it is."""
    template = getattr(message, "template", None)
    return gettext(template).format(**message.params) if template else message


def localized_errors(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """``ClassificationError.errors`` in the reader's language, field by field."""
    return {field: [localized(m) for m in messages] for field, messages in errors.items()}


_REFRESH_SECONDS = 60
_cache: dict[str, object] = {"at": 0.0, "tables": {}}


def tables_of(rules: dict) -> dict[str, dict[str, str]]:
    """Label tables (by kind) read from one version's rules."""
    classification = rules.get("classification", {})
    benchmarks = rules.get("benchmarks", {})
    tables: dict[str, dict[str, str]] = {
        "section": {r["id"]: r["title"] for r in rules.get("requirements", []) if r.get("id") and r.get("title")},
        "capability": {c["id"]: c["label"] for c in classification.get("capabilities", [])},
        "sensitive_domain": {d["id"]: d["label"] for d in classification.get("sensitive_domains", [])},
        "benchmark": {b["id"]: b["name"] for b in benchmarks.get("catalogue", []) if b.get("name")},
        "benchmark_category": {c["id"]: c["label"] for c in benchmarks.get("categories", [])},
        "run_by": {r["id"]: r["label"] for r in benchmarks.get("run_by", [])},
        "deadline_kind": {d["kind"]: d["title"] for d in rules.get("deadlines", []) if d.get("title")},
    }
    return tables


def _stored_tables() -> dict[str, dict[str, str]]:
    now = time.monotonic()
    if now - _cache["at"] < _REFRESH_SECONDS:
        return _cache["tables"]
    from certification.framework.models import FrameworkVersion

    tables: dict[str, dict[str, str]] = {}
    try:
        for rules in FrameworkVersion.objects.order_by("pk").values_list("rules", flat=True):
            for kind, table in tables_of(rules or {}).items():
                tables.setdefault(kind, {}).update(table)
    except DatabaseError:  # before migrations, or a database that is not reachable yet
        return {}
    _cache.update(at=now, tables=tables)
    return tables


def _lookup(kind: str):
    def lookup(code: str) -> str | None:
        return _stored_tables().get(kind, {}).get(code)

    lookup.__name__ = f"framework_{kind}"
    return lookup


def register() -> None:
    for kind, table in tables_of(FRAMEWORK_2025_1).items():
        labels.register(kind, table)
        labels.register_source(kind, _lookup(kind))
    labels.register("better_when", BETTER_WHEN)
    # Titles and labels read from the versions' data, in the reader's language: the versions' own
    # translations first (the catalogue comes after, in ``portal.labels``).
    labels.register_translator(texts.translate_from_versions)
