"""Staff decision pages: approve (four-eyes for Tier 3/4) and reject with reasons. Views check
access, call a service, turn its error into a message, and redirect."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from certification.certificates import services
from certification.releases import forms
from certification.releases.access import get_application_for_user
from certification.releases.views.staff import staff_action, staff_form_action
from portal.views import staff_required


@staff_required
@require_POST
def application_approve(request: HttpRequest, pk: int) -> HttpResponse:
    return staff_action(request, pk, services.approve, _("Approval recorded."))


@staff_required
def application_reject(request: HttpRequest, pk: int) -> HttpResponse:
    app = get_application_for_user(request, pk)
    return staff_form_action(
        request, forms.ReasonForm(request.POST or None, prefix="reject"),
        lambda data: services.reject(app, request.user, data["reasons"], request=request),
        _("The application was rejected."), reverse("certification:application-detail", args=[app.pk]),
        {"application": app, "title": _("Reject the application")},
    )
