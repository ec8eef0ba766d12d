"""The deadline kind of the framework itself (issue 16 §3), registered with the engine in
``portal.deadlines`` by ``CertificationConfig.ready``: the yearly review of the version in force.

The framework promises an updated version every 12 months. Each published version gets a
``framework_review`` deadline at its review-by date (``rules.review_by``: its effective date plus
the row's ``length_months``); staff are reminded before it and every staff member is told when it
passes. Publishing a newer version is the review: it closes the older versions' deadlines."""

from __future__ import annotations

from certification.framework import rules
from certification.framework.models import FrameworkVersion
from portal import deadlines, organizations
from portal.notifications import notify


def is_latest(fv: FrameworkVersion) -> bool:
    """Whether no version was published after this one (its review is still to come)."""
    return fv.is_published and not FrameworkVersion.objects.published().filter(
        effective_from__gt=fv.effective_from).exists()


def _review_reminder(deadline, fv, offset) -> None:
    if is_latest(fv):
        notify(organizations.staff_users(), "framework-review-reminder",
               {"version": fv, "review_by": deadline.due_at, "days_left": offset.days}, url=fv.get_absolute_url())


def _review_due(deadline, fv) -> None:
    if is_latest(fv):
        notify(organizations.staff_users(), "framework-review-overdue", {"version": fv, "review_by": deadline.due_at},
               url=fv.get_absolute_url())


deadlines.register(rules.deadline_kind(
    "framework_review", _review_reminder, _review_due, pending=is_latest,
    description="Yearly review of the framework version in force: staff reminded, then every staff member "
                "told once the review-by date passes without a newer version.",
))
