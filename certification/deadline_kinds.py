"""Deadline kinds of the certification workflow (DESIGN §2.4), registered with
the shared engine in ``portal.deadlines``. Reminder offsets come from the
framework data of 2025.1; lengths are read from each application's version."""

from __future__ import annotations

from datetime import timedelta

from django.urls import reverse

from portal import deadlines
from portal.notifications import notify

from .framework_data import FRAMEWORK_2025_1


def offsets(kind: str) -> tuple[timedelta, ...]:
    entry = next(d for d in FRAMEWORK_2025_1["deadlines"] if d["kind"] == kind)
    return tuple(timedelta(days=r["days_before"]) for r in entry.get("reminders", []))


def _app_url(app) -> str:
    return reverse("certification:application-detail", args=[app.pk])


def _changes_reminder(deadline, app, offset) -> None:
    from .services import org_admins

    notify(org_admins(app.release.organization), "changes-requested-reminder",
           {"application": app, "due_at": deadline.due_at, "days_left": offset.days}, url=_app_url(app))


def _changes_due(deadline, app) -> None:
    from .models import Application
    from .services import lapse

    if app.status == Application.Status.CHANGES_REQUESTED:
        lapse(app)


def _decision_reminder(deadline, app, offset) -> None:
    if app.owner:
        notify(app.owner, "decision-reminder", {"application": app, "due_at": deadline.due_at,
                                                "days_left": offset.days}, url=_app_url(app))


def _decision_due(deadline, app) -> None:
    from .models import Application
    from .services import staff_users

    if app.status == Application.Status.DECISION_PENDING:
        notify(staff_users(), "decision-overdue", {"application": app, "due_at": deadline.due_at}, url=_app_url(app))


deadlines.register(deadlines.DeadlineKind(
    "changes_requested", offsets("changes_requested"), _changes_reminder, _changes_due,
    description="Changes requested by staff: the organization resubmits or the application lapses.",
))
deadlines.register(deadlines.DeadlineKind(
    "staff_decision", offsets("staff_decision"), _decision_reminder, _decision_due,
    description="Staff decision once every gate holds; escalated to every staff member when it passes.",
))
