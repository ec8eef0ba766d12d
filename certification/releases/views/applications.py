"""Application pages of the organization: start, the application page, check your answers and
the attestation (after re-authentication), withdrawal, frozen revisions and their differences."""

from __future__ import annotations

import difflib
import json

from allauth.account.decorators import reauthentication_required
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from certification.framework import services as framework_services
from certification.framework import tiers
from certification.releases import applications as release_applications
from certification.releases import checklist, forms
from certification.releases import services as release_services
from certification.releases.access import (
    get_application_for_user,
    get_release_for_user,
    membership_of,
    require_admin,
    require_member,
    show_workflow_error,
)
from certification.releases.models import Application, Documentation, DocumentationRevision

# --- applications ----------------------------------------------------------------------------------


@login_required
@require_POST
def application_start(request: HttpRequest, pk: int) -> HttpResponse:
    release = get_release_for_user(request, pk)
    require_member(request, release.organization)
    try:
        app = release_applications.start_application(release, request.user, request=request)
    except framework_services.WorkflowError as exc:
        show_workflow_error(request, exc)
        return redirect("certification:release-detail", release.pk)
    return redirect("certification:application-attest", app.pk)


@login_required
@require_GET
def application_detail(request: HttpRequest, pk: int) -> HttpResponse:
    app = get_application_for_user(request, pk)
    membership = membership_of(request, app.release.organization)
    revisions = list(app.revisions.order_by("number").select_related("attestation"))
    context = {
        "application": app,
        "release": app.release,
        "membership": membership,
        "revisions": revisions,
        "transitions": app.transitions.select_related("actor"),
        "change_requests": app.change_requests.all(),
        "decisions": app.decisions.select_related("decided_by"),
        "gates": release_applications.open_gates(app) if app.status == Application.Status.IN_REVIEW else [],
        "is_staff": request.user.is_alliance_staff,
        "certificate": getattr(app, "certificate", None) if app.status == Application.Status.CERTIFIED else None,
        "deadlines": _deadlines_for(app),
        "reject_form": forms.ReasonForm(prefix="reject"),
        "hand_over_form": forms.HandOverForm() if request.user.is_alliance_staff else None,
        "sections": tiers.section_ids(app.framework_version.rules),
    }
    return render(request, "certification/releases/application_detail.html", context)


def _deadlines_for(app):
    from portal.models import Deadline

    return Deadline.objects.for_object(app).filter(state__in=[Deadline.State.OPEN, Deadline.State.PASSED])


@login_required
@reauthentication_required
def application_attest(request: HttpRequest, pk: int) -> HttpResponse:
    """Check your answers, then file the attestation (organization admins, after re-authentication)."""
    app = get_application_for_user(request, pk)
    membership = require_member(request, app.release.organization)
    rules = app.framework_version.rules
    tier = release_services.effective_tier(app.release, rules)
    statements = tiers.attestation_statements_for_tier(rules, tier)
    form = forms.AttestationForm(request.POST or None, statements=statements,
                             initial={"signer_name": request.user.name})
    if request.method == "POST":
        if not membership.is_admin:
            raise PermissionDenied
        if form.is_valid():
            try:
                release_applications.submit_application(
                    app, request.user, signer_name=form.cleaned_data["signer_name"],
                    signer_title=form.cleaned_data["signer_title"], affirmed=form.affirmed(), request=request,
                )
            except framework_services.WorkflowError as exc:
                show_workflow_error(request, exc, form)
            else:
                return render(request, "certification/releases/submitted.html", {"application": app})
    doc = Documentation.objects.filter(release=app.release).first()
    context = {
        "application": app,
        "release": app.release,
        "tier": tier,
        "form": form,
        "items": checklist.build(app.release, tier, rules, doc),
        "documentation": doc,
        "results": app.release.benchmark_results.select_related("benchmark"),
        "artifacts": app.release.artifacts.all(),
        "evidence_files": app.release.evidence_files.all(),
        "is_admin": membership.is_admin,
        "open_change_request": app.change_requests.filter(resolved_at__isnull=True).first(),
    }
    return render(request, "certification/releases/attest.html", context)


@login_required
def application_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    app = get_application_for_user(request, pk)
    require_admin(request, app.release.organization)
    if request.method == "POST":
        try:
            release_applications.withdraw(app, request.user, request=request)
            messages.success(request, _("The application was withdrawn."))
        except framework_services.WorkflowError as exc:
            show_workflow_error(request, exc)
        return redirect("certification:application-detail", app.pk)
    return render(request, "certification/releases/confirm.html", {
        "application": app, "title": _("Withdraw the application?"),
        "text": _("Staff stop reviewing it. You can start a new application later."),
        "button": _("Withdraw"), "danger": True})


def _section_diff(old: dict, new: dict) -> list[dict]:
    rows = []
    keys = sorted(set(old) | set(new))
    for key in keys:
        a = json.dumps(old.get(key), indent=2, sort_keys=True, ensure_ascii=False).splitlines()
        b = json.dumps(new.get(key), indent=2, sort_keys=True, ensure_ascii=False).splitlines()
        if a != b:
            rows.append({"key": key, "diff": "\n".join(difflib.unified_diff(a, b, "before", "after", lineterm=""))})
    return rows


@login_required
@require_GET
def revision_detail(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    app = get_application_for_user(request, pk)
    revision = get_object_or_404(DocumentationRevision, application=app, number=number)
    diff = None
    compare = request.GET.get("compare")
    if compare and compare.isdigit():
        other = DocumentationRevision.objects.filter(application=app, number=int(compare)).first()
        if other is not None:
            old, new = (other.content, revision.content)
            flat_old = {**{f"section {k}": v for k, v in old.get("sections", {}).items()},
                        **{k: v for k, v in old.items() if k != "sections"}}
            flat_new = {**{f"section {k}": v for k, v in new.get("sections", {}).items()},
                        **{k: v for k, v in new.items() if k != "sections"}}
            diff = {"other": other, "rows": _section_diff(flat_old, flat_new)}
    return render(request, "certification/releases/revision_detail.html", {
        "application": app, "revision": revision, "diff": diff,
        "content_json": json.dumps(revision.content, indent=2, sort_keys=True, ensure_ascii=False),
        "revisions": app.revisions.order_by("number"),
    })
