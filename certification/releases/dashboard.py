"""The applications' panels on the portal's dashboard and staff console (registered by
``CertificationConfig.ready``)."""

from __future__ import annotations

from certification.releases.models import Application
from portal.models import Organization, User

S = Application.Status


def dashboard_counts(user: User, org: Organization | None) -> dict:
    context = {}
    if org is not None:
        apps = Application.objects.filter(release__ai_model__organization=org)
        context["org_applications"] = {
            "drafts": apps.filter(status=S.DRAFT).count(),
            "changes_requested": apps.filter(status=S.CHANGES_REQUESTED).count(),
            "in_progress": apps.exclude(status__in=[*Application.CLOSED_STATES, S.DRAFT]).count(),
            "certified": apps.filter(status=S.CERTIFIED).count(),
        }
    if user.is_alliance_staff:
        context["staff_queue"] = {
            "queue": Application.objects.staff_queue().count(),  # the screening queue's rows
            "submitted": Application.objects.filter(status=S.SUBMITTED).count(),
            "mine": Application.objects.filter(owner=user).exclude(status__in=Application.CLOSED_STATES).count(),
            "decision_pending": Application.objects.filter(status=S.DECISION_PENDING).count(),
        }
    return context


def staff_console_counts(user: User) -> dict:
    """The console's count of the screening queue: the same query definition as the queue's rows."""
    return {"queue_count": Application.objects.staff_queue().count()}
