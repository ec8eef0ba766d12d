"""Pages of post-release incidents (issue 16 §2): the list of the incidents about the user's
organizations' releases, an incident's page, and its transitions: acknowledge, start the
investigation, resolve with a public note (organization admins), set the severity (staff).
Staff dismiss or escalate from the same page (``registry.concern_dismiss``, the suspension page).

Access: the organization's members and staff read (anyone else: 404, as for any foreign object);
only its admins answer (403 for members). Views check access, call a service in
``certification.certificates.incidents``, turn its error into a message, and redirect."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from certification.certificates import incidents
from certification.certificates.models import ConcernReport
from certification.certificates.views import decisions
from certification.releases.access import require_admin, run_action
from portal import organizations as portal_organizations
from portal.validators import plain_text
from portal.views import staff_required

# --- forms ---------------------------------------------------------------------------------------------


class ResolveForm(forms.Form):
    resolution = forms.ChoiceField(label=gettext_lazy("Resolution"), widget=forms.RadioSelect,
                                   choices=ConcernReport.Resolution.choices)
    fixed_in = forms.CharField(label=gettext_lazy("Fixed in release"), required=False, max_length=100,
                               validators=[plain_text],
                               help_text=gettext_lazy("The release that fixes it, for example 2.1. Only for "
                                                      "“fixed in a release”."))
    note = forms.CharField(label=gettext_lazy("Public note"), widget=forms.Textarea(attrs={"rows": 5}),
                           help_text=gettext_lazy("Shown on the public certificate page with the incident's "
                                                  "title and dates, and sent to the reporter. Say what was found "
                                                  "and what changed; leave out anything that would help cause "
                                                  "harm."))

    def clean(self):
        data = super().clean()
        if data.get("resolution") == ConcernReport.Resolution.FIXED and not data.get("fixed_in"):
            self.add_error("fixed_in", _("Name the release that fixes it."))
        return data


class SeverityForm(forms.Form):
    severity = forms.ChoiceField(label=gettext_lazy("Severity"), choices=ConcernReport.Severity.choices)


# --- helpers -------------------------------------------------------------------------------------------


def get_incident(request: HttpRequest, pk: int) -> ConcernReport:
    incident = incidents.get_incident_for_user(request.user, pk)
    if incident is None:
        raise Http404
    return incident


def _title(incident: ConcernReport) -> str:
    release = incident.certificate.release
    return f"{release.ai_model.name} {release.version}: {incident.summary}"


# --- pages ---------------------------------------------------------------------------------------------


@login_required
@require_GET
def incident_list(request: HttpRequest) -> HttpResponse:
    """The incidents about the releases of the user's organizations (every incident for staff),
    newest first. Queries: the incidents with certificate, release, model and organization (1),
    their acknowledgement deadlines (1)."""
    rows = list(ConcernReport.objects.visible_to(request.user)
                .select_related("certificate__organization", "certificate__release__ai_model")
                .order_by("-created_at", "-pk")[:200])
    dues = incidents.acknowledgement_dues(rows)
    return render(request, "certification/certificates/incidents.html", {
        "rows": [(row, dues.get(row.pk) if row.status == ConcernReport.Status.RECEIVED else None) for row in rows],
        "is_staff": request.user.is_alliance_staff,
    })


@login_required
@require_GET
def incident_detail(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_incident(request, pk)
    org = incident.certificate.organization
    is_admin = portal_organizations.is_org_admin(request.user, org)
    return render(request, "certification/certificates/incident.html", {
        "incident": incident,
        "certificate": incident.certificate,
        "acknowledge_by": incidents.acknowledgement_dues([incident]).get(incident.pk),
        "public_after_days": incidents.public_after(incident.certificate).days,
        "is_admin": is_admin,
        "is_staff": request.user.is_alliance_staff,
        "severity_form": SeverityForm(initial={"severity": incident.severity or "medium"}),
    })


def _transition(request: HttpRequest, pk: int, run, success: str) -> HttpResponse:
    incident = get_incident(request, pk)
    require_admin(request, incident.certificate.organization)
    run_action(request, run, incident, success)
    return redirect("certification:incident-detail", incident.pk)


@login_required
@require_POST
def incident_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    return _transition(request, pk, incidents.acknowledge,
                       _("Incident acknowledged. The reporter was told."))


@login_required
@require_POST
def incident_investigate(request: HttpRequest, pk: int) -> HttpResponse:
    return _transition(request, pk, incidents.start_investigation,
                       _("The incident is under investigation. The reporter was told."))


@login_required
def incident_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    """The resolution form, then its confirmation page (the note becomes public), then the service."""
    incident = get_incident(request, pk)
    require_admin(request, incident.certificate.organization)
    page = reverse("certification:incident-detail", args=[incident.pk])
    return decisions.form_decision(
        request, ResolveForm(request.POST or None),
        run=lambda data: incidents.resolve(incident, request.user, data["resolution"], data["note"],
                                           data.get("fixed_in", ""), request=request),
        success=_("The incident is resolved. The reporter was told; the note is on the certificate page."),
        done_url=page,
        confirm={"title": _("Resolve the incident"), "subject": _title(incident), "cancel_url": page,
                 "button": _("Resolve the incident"), "danger": False,
                 "consequences": [_("The incident's title, dates, resolution and your note appear on the public "
                                    "certificate page at once. Its details stay private."),
                                  _("The reporter is told, with your note."),
                                  _("A resolved incident cannot be reopened; a new report would be a new "
                                    "incident.")]},
        template="certification/certificates/incident_resolve.html",
        context={"incident": incident, "certificate": incident.certificate},
    )


@staff_required
@require_POST
def incident_severity(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_incident(request, pk)
    form = SeverityForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose low, medium, high or critical."))
    else:
        severity = form.cleaned_data["severity"]
        run_action(request, lambda obj, user, **kw: incidents.set_severity(obj, user, severity, **kw), incident,
                   _("Severity set."))
    return redirect("certification:incident-detail", incident.pk)
