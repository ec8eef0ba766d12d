"""Deadline kinds of the certification workflow (DESIGN §2.4), registered with
the shared engine in ``portal.deadlines``. Reminder offsets come from the
framework data of 2025.1; lengths are read from each application's version."""

from __future__ import annotations

from django.urls import reverse

from certification.framework import rules
from portal import deadlines
from portal.notifications import notify


def _app_url(app) -> str:
    return reverse("certification:application-detail", args=[app.pk])


def _changes_reminder(deadline, app, offset) -> None:
    from portal.organizations import org_admins

    notify(org_admins(app.release.organization), "changes-requested-reminder",
           {"application": app, "due_at": deadline.due_at, "days_left": offset.days}, url=_app_url(app))


def _changes_due(deadline, app) -> None:
    from certification.releases.applications import lapse
    from certification.releases.models import Application

    if app.status == Application.Status.CHANGES_REQUESTED:
        lapse(app)


def _decision_reminder(deadline, app, offset) -> None:
    if app.owner:
        notify(app.owner, "decision-reminder", {"application": app, "due_at": deadline.due_at,
                                                "days_left": offset.days}, url=_app_url(app))


def _decision_due(deadline, app) -> None:
    from certification.releases.models import Application
    from portal.organizations import staff_users

    if app.status == Application.Status.DECISION_PENDING:
        notify(staff_users(), "decision-overdue", {"application": app, "due_at": deadline.due_at}, url=_app_url(app))


deadlines.register(rules.deadline_kind(
    "changes_requested", _changes_reminder, _changes_due, pending=lambda app: app.status == "changes_requested",
    description="Changes requested by staff: the organization resubmits or the application lapses.",
))
deadlines.register(rules.deadline_kind(
    "staff_decision", _decision_reminder, _decision_due, pending=lambda app: app.status == "decision_pending",
    description="Staff decision once every gate holds; escalated to every staff member when it passes.",
))
