"""Reading a framework version's rules: the one place that turns the data of a version into
lengths, reminder offsets, validities and lead times (DESIGN §2, §2.4).

Every number a rule needs is read from the version the object is bound to (an application's
version, a certificate's version) when it is needed, never from a constant: ``rules_of(obj)``
finds that version's rules and the functions below read them. A version that leaves a
number out falls back to 2025.1's, the first version's data.
"""

from __future__ import annotations

import datetime as dt
from datetime import timedelta
from typing import Any

from django.utils.translation import gettext_noop

from certification.framework.data import FRAMEWORK_2025_1
from portal.deadlines import DeadlineKind


def rules_of(obj: Any) -> dict:
    """The rules of the framework version ``obj`` is bound to: its own (an application, a
    certificate), its application's (an offer, an engagement, a window, a finding, an appeal), its
    certificate's (an incident), or the version in force for an object bound to none (an accreditation)."""
    if isinstance(getattr(obj, "rules", None), dict):  # a framework version: its own rules
        return obj.rules
    for path in ("framework_version", "application.framework_version", "window.application.framework_version",
                 "certificate.framework_version"):
        target = obj
        for attr in path.split("."):
            target = getattr(target, attr, None)
            if target is None:
                break
        if target is not None:
            return target.rules
    from certification.framework.services import version_in_force

    return version_in_force().rules


# Deadline rows that version 2025.1's published data does not carry (adding them would change its
# document digest): a later version overrides one with a row of the same kind in its ``deadlines``.
DEFAULT_DEADLINES = [
    {
        "kind": "framework_review",
        "title": gettext_noop("Framework version review"),
        "starts": "version_effective",
        # The framework promises an updated version every 12 months.
        "length_months": 12,
        "reminders": [
            {"days_before": 60, "recipients": ["staff"]},
            {"days_before": 30, "recipients": ["staff"]},
            {"days_before": 7, "recipients": ["staff"]},
        ],
        "on_due": "escalate_to_staff",
        "on_due_text": gettext_noop("Escalated to every staff member until a newer version is published."),
    },
    {
        # Issue 16 §2: the organization acknowledges a post-release incident about its certified release.
        "kind": "incident_acknowledgement",
        "title": gettext_noop("Incident acknowledgement"),
        "starts": "incident_received",
        "length_days": 5,
        "reminders": [
            {"days_before": 2, "recipients": ["org_admins"]},
            {"days_before": 1, "recipients": ["org_admins"]},
        ],
        "on_due": "escalate_to_staff",
        "on_due_text": gettext_noop("Escalated to every staff member."),
    },
]


def deadline_entry(rules: dict, kind: str) -> dict:
    """The §2.4 row of a deadline kind, from the version, else from 2025.1, else the defaults above."""
    for source in (rules, FRAMEWORK_2025_1, {"deadlines": DEFAULT_DEADLINES}):
        for entry in source.get("deadlines", []):
            if entry.get("kind") == kind:
                return entry
    return {}


def deadline_length(rules: dict, kind: str, tier: int | None = None) -> timedelta:
    """How long a deadline runs: ``length_days``, or the tier's ``length_days_by_tier``."""
    entry = deadline_entry(rules, kind)
    if tier is not None:
        for per_tier in entry.get("length_days_by_tier", []):
            if per_tier["tier"] == tier:
                return timedelta(days=per_tier["days"])
    if "length_days" in entry:
        return timedelta(days=entry["length_days"])
    if "length_years" in entry:
        return timedelta(days=365 * entry["length_years"])
    by_tier = entry.get("length_days_by_tier") or []
    if by_tier:  # a tier the version does not list: the longest, the safe side
        return timedelta(days=max(row["days"] for row in by_tier))
    raise KeyError(f"framework data has no length for the deadline {kind!r}")


def add_months(value: dt.datetime, months: int) -> dt.datetime:
    """The same day ``months`` calendar months later (the month's last day where it is shorter)."""
    month = value.month - 1 + months
    year, month = value.year + month // 12, month % 12 + 1
    for day in (value.day, 30, 29, 28):
        try:
            return value.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def review_by(version: Any) -> dt.datetime | None:
    """When a published framework version must have been reviewed: its effective date plus the
    ``length_months`` of its ``framework_review`` row (12 months); None for a draft."""
    if version.effective_from is None:
        return None
    months = deadline_entry(version.rules, "framework_review").get("length_months", 12)
    return add_months(version.effective_from, int(months))


def deadline_days(rules: dict, kind: str, tier: int | None = None) -> int:
    return deadline_length(rules, kind, tier).days


def reminder_offsets(rules: dict, kind: str) -> tuple[timedelta, ...]:
    """The reminders before the due time, latest first (T-30d, T-7d...)."""
    days = sorted((r["days_before"] for r in deadline_entry(rules, kind).get("reminders", [])), reverse=True)
    return tuple(timedelta(days=d) for d in days)


def repeat_every(rules: dict, kind: str) -> timedelta | None:
    """How often an overdue notice repeats after the due time, if it does."""
    days = deadline_entry(rules, kind).get("repeat_every_days")
    return timedelta(days=days) if days else None


def deadline_title(kind: str, rules: dict | None = None) -> str:
    """The human title of a deadline kind (the staff deadlines page, calendar feeds)."""
    return deadline_entry(rules or {}, kind).get("title") or kind.replace("_", " ").capitalize()


def deadline_years(rules: dict, kind: str) -> int:
    """A deadline counted in calendar years (``length_years``: an accreditation's validity)."""
    return int(deadline_entry(rules, kind)["length_years"])


# Numbers of DESIGN §2.1 and §4 that version 2025.1's published data does not carry (adding them
# would change its document digest): a later version sets them in the section of the same name.
DEFAULTS = {
    "certificates": {
        "appeal_window_days": 30,  # a rejection can be appealed once within this many days
        "renewal_after_months": 6,  # renewal may start this long after the issue
    },
    "review": {
        "reopen_min_days": 14,  # a closed window reopened by a tier raise stays open at least this long
    },
    "incidents": {
        # An acknowledged incident joins the certificate page's public history this long after its
        # acknowledgement, if it is not resolved before (issue 16 §2).
        "public_history_days": 90,
    },
}


def setting(rules: dict, section: str, key: str) -> Any:
    """A number of the version's ``certificates``, ``review`` or ``incidents`` section, or else the default above."""
    values = rules.get(section) or {}
    if key in values:
        return values[key]
    return DEFAULTS[section][key]


def deadline_kind(name: str, on_reminder, on_due, *, on_overdue=None, description: str = "",
                  target_url=None, pending=None) -> DeadlineKind:
    """A §2.4 deadline kind for the engine: its title from the framework data, and the reminder
    offsets and overdue repeat of the version each object is bound to, read when its deadline
    opens (2025.1's are the kind's defaults, for rows opened before versions carried them)."""
    return DeadlineKind(
        name, reminder_offsets(FRAMEWORK_2025_1, name), on_reminder, on_due,
        repeat_every=repeat_every(FRAMEWORK_2025_1, name), on_overdue=on_overdue, description=description,
        title=deadline_title(name), target_url=target_url,
        reminders_for=lambda obj: reminder_offsets(rules_of(obj), name),
        repeat_every_for=lambda obj: repeat_every(rules_of(obj), name), pending=pending,
    )
