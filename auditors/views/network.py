"""Pages of the auditor network for the people in it: the public directory, applying to join,
the person's own page (listing, affiliations) and their supporting files."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from auditors import forms as f
from auditors import services as auditor_services
from auditors.models import Accreditation, Engagement, Offer, SupportingFile
from auditors.views.common import private_download, show_error
from certification.framework.services import WorkflowError

# --- public directory ---------------------------------------------------------------------------------


@require_GET
def directory(request: HttpRequest) -> HttpResponse:
    people = (Accreditation.objects.in_directory().select_related("user")
              .order_by("role", "user__name", "pk"))
    return render(request, "auditors/directory.html", {
        "auditors": [a for a in people if a.role == Accreditation.Role.AUDITOR],
        "evaluators": [a for a in people if a.role == Accreditation.Role.EVALUATOR],
    })


# --- joining and the person's own page --------------------------------------------------------------------


@login_required
def join(request: HttpRequest, role: str) -> HttpResponse:
    if role not in Accreditation.Role.values:
        raise Http404
    form = f.JoinForm(request.POST or None, request.FILES or None, role=role)
    formset = f.AffiliationFormSet(request.POST or None, prefix="aff")
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        data = form.cleaned_data
        affiliations = [a for a in formset.cleaned_data if a.get("organization_name")]
        files = [data["supporting_file"]] if data.get("supporting_file") else []
        try:
            auditor_services.apply_to_join(request.user, role, data, affiliations, files, request=request)
        except WorkflowError as exc:
            show_error(request, exc, form)
        else:
            messages.success(request, _("Application received. Alliance staff will review it and tell you."))
            return redirect("auditors:my-network")
    return render(request, "auditors/join.html", {"form": form, "formset": formset, "role": role,
                                                  "role_label": dict(Accreditation.Role.choices)[role]})


@login_required
@require_GET
def my_network(request: HttpRequest) -> HttpResponse:
    """The auditor's dashboard: offers with deadlines, engagements with due dates, history."""
    user = request.user
    accreditations = list(user.accreditations.prefetch_related("affiliations", "files"))
    offers = list(Offer.objects.filter(accreditation__user=user).select_related(
        "application__release__ai_model__organization").order_by("-sent_at")[:100])
    engagements = list(Engagement.objects.filter(accreditation__user=user).select_related(
        "application__release__ai_model__organization", "report").order_by("-accepted_at")[:100])
    return render(request, "auditors/my_network.html", {
        "accreditations": accreditations,
        "open_offers": [o for o in offers if o.status == Offer.Status.OPEN],
        "active": [e for e in engagements if e.status == Engagement.Status.ACTIVE],
        "completed": [e for e in engagements if e.status == Engagement.Status.COMPLETED],
        "past_offers": [o for o in offers if o.status != Offer.Status.OPEN],
        "affiliation_form": f.AffiliationForm(),
        "now": timezone.now(),
    })


def _own_accreditation(request) -> Accreditation:
    acc = request.user.accreditations.filter(pk=request.POST.get("accreditation")).first()
    if acc is None:
        raise Http404
    return acc


@login_required
@require_POST
def my_listing(request: HttpRequest) -> HttpResponse:
    acc = _own_accreditation(request)
    form = f.ListingForm(request.POST)
    form.is_valid()
    auditor_services.set_listing(acc, request.user, bool(form.cleaned_data.get("listed_publicly")), request=request)
    messages.success(request, _("Directory listing updated."))
    return redirect("auditors:my-network")


@login_required
@require_POST
def my_affiliation_add(request: HttpRequest) -> HttpResponse:
    acc = _own_accreditation(request)
    form = f.AffiliationForm(request.POST)
    if form.is_valid() and form.cleaned_data.get("organization_name"):
        try:
            auditor_services.add_affiliation(acc, request.user, form.cleaned_data, request=request)
            messages.success(request, _("Affiliation declared."))
        except WorkflowError as exc:
            show_error(request, exc)
    else:
        messages.error(request, _("Name the organization and the relation."))
    return redirect("auditors:my-network")


@login_required
@require_GET
def supporting_file(request: HttpRequest, pk: int) -> HttpResponse:
    sf = SupportingFile.objects.select_related("accreditation").filter(pk=pk).first()
    if sf is None or not (request.user.is_alliance_staff or sf.accreditation.user_id == request.user.pk):
        raise Http404
    return private_download("accreditation", sf.stored_name, sf.display_name,
                             "application/pdf" if sf.family == "pdf" else "text/plain; charset=utf-8")
