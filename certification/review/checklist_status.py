"""Where the community review window of a release stands, for its compliance checklist
(registered with ``certification.releases.checklist.PROCESS_STATUS_PROVIDERS`` by
``CertificationConfig.ready``: the releases layer cannot import review)."""

from __future__ import annotations

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from certification.releases import checklist
from certification.releases.models import Release
from certification.review.models import ReviewWindow


def window_status(release: Release) -> tuple[str, str] | None:
    """Completed once the window of the release's latest application has closed; None before one opens."""
    app = release.applications.order_by("-created_at", "-pk").first()
    window = ReviewWindow.objects.filter(application=app).first() if app is not None else None
    if window is None:
        return None
    if window.closes_at <= timezone.now():
        return checklist.COMPLETED, _("Window closed %(date)s.") % {"date": date_format(window.closes_at, "j F Y")}
    return checklist.PROCESS, _("Window open until %(date)s.") % {"date": date_format(window.closes_at, "j F Y")}
