"""Deadline kinds of the community review (DESIGN §2.4), registered with the engine in
``portal.deadlines`` by ``CertificationConfig.ready``: the window, triage and the response to a
finding. Reminders follow the framework version of each application."""

from __future__ import annotations

from datetime import timedelta

from certification.framework import rules
from certification.review.models import Finding, FindingResponse, ReviewWindow
from certification.review.services import F, close_window, enrolled_users, finding_url, window_url
from portal import deadlines, organizations
from portal.notifications import notify

# --- deadline kinds (DESIGN §2.4) ------------------------------------------------------------------


def _window_reminder(deadline, window: ReviewWindow, offset: timedelta) -> None:
    if not window.is_open():
        return
    notify(enrolled_users(window), "window-closing-reminder",
           {"window": window, "application": window.application, "closes_at": window.closes_at,
            "days_left": offset.days}, url=window_url(window))


def _window_due(deadline, window: ReviewWindow) -> None:
    close_window(window)


def _triage_reminder(deadline, finding: Finding, offset: timedelta) -> None:
    app = finding.window.application
    if finding.status == F.SUBMITTED and app.owner:
        notify(app.owner, "finding-triage-reminder", {"finding": finding, "application": app,
                                                      "due_at": deadline.due_at, "days_left": offset.days},
               url=finding_url(finding))


def _triage_due(deadline, finding: Finding) -> None:
    if finding.status == F.SUBMITTED:
        notify(organizations.staff_users(), "finding-triage-overdue",
               {"finding": finding, "application": finding.window.application, "due_at": deadline.due_at},
               url=finding_url(finding))


def _response_reminder(deadline, finding: Finding, offset: timedelta) -> None:
    app = finding.window.application
    if finding.status == F.ACCEPTED and not FindingResponse.objects.filter(finding=finding).exists():
        notify(organizations.org_admins(app.release.organization), "response-reminder",
               {"finding": finding, "application": app, "due_at": deadline.due_at, "days_left": offset.days},
               url=finding_url(finding))


def _response_due_handler(deadline, finding: Finding) -> None:
    app = finding.window.application
    if finding.status == F.ACCEPTED and not FindingResponse.objects.filter(finding=finding).exists() and app.owner:
        notify(app.owner, "response-overdue", {"finding": finding, "application": app, "due_at": deadline.due_at},
               url=finding_url(finding))


deadlines.register(rules.deadline_kind(
    "review_window", _window_reminder, _window_due, pending=lambda window: window.closed_at is None,
    description="Community review window: enrolled evaluators reminded; at the close the organization and owner "
                "are notified.",
))


deadlines.register(rules.deadline_kind(
    "finding_triage", _triage_reminder, _triage_due, pending=lambda finding: finding.status == F.SUBMITTED,
    description="Triage of a submitted finding: the owner is reminded, then every staff member is told.",
))


deadlines.register(rules.deadline_kind(
    # Filing the response closes the deadline: an accepted finding with an open one is still waiting.
    "finding_response", _response_reminder, _response_due_handler, pending=lambda finding: finding.status == F.ACCEPTED,
    description="The organization's response to an accepted finding; overdue: the owner is told, the decision "
                "stays blocked.",
))
