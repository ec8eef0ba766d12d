"""Application pages of the organization: start, the application page, check your answers and
the attestation (after re-authentication), withdrawal, frozen revisions and their differences."""

from __future__ import annotations

from allauth.account.decorators import reauthentication_required
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from certification.framework import services as framework_services
from certification.framework import texts, tiers
from certification.releases import applications as release_applications
from certification.releases import checklist, forms, lineage, presentation
from certification.releases import services as release_services
from certification.releases.access import (
    get_application_for_user,
    get_release_for_user,
    membership_of,
    require_admin,
    require_member,
    show_workflow_error,
)
from certification.releases.models import Application, Documentation, DocumentationRevision, EvidenceFile

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
    if context["is_staff"]:
        # Screening: each declared upstream, resolved, with its flags (issue 16 §1).
        context["upstream_links"] = lineage.resolve(app.release, app.tier)
        context["flagged_links"] = [link for link in context["upstream_links"] if link.flags]
    return render(request, "certification/releases/application_detail.html", context)


def _deadlines_for(app):
    from portal.models import Deadline

    return Deadline.objects.for_object(app).filter(state__in=[Deadline.State.OPEN, Deadline.State.PASSED])


@login_required
def application_attest(request: HttpRequest, pk: int) -> HttpResponse:
    """Check your answers, then file the attestation (organization admins, after re-authentication).
    Filing redirects to ``?submitted=1`` (post/redirect/get): a reload shows the confirmation, never re-posts."""
    if request.method == "GET" and request.GET.get("submitted") == "1":
        app = get_application_for_user(request, pk)
        require_member(request, app.release.organization)
        if app.submitted_at is None:
            return redirect("certification:application-attest", app.pk)
        return render(request, "certification/releases/submitted.html", {"application": app})
    return _attest(request, pk)


@reauthentication_required
def _attest(request: HttpRequest, pk: int) -> HttpResponse:
    app = get_application_for_user(request, pk)
    membership = require_member(request, app.release.organization)
    # Shown in the reader's language; the filed attestation records the version's own texts (numbers
    # and English), whatever language the signer read them in (``submit_application``).
    rules = texts.in_language(app.framework_version.rules)
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
                return redirect(reverse("certification:application-attest", args=[app.pk]) + "?submitted=1")
    doc = Documentation.objects.filter(release=app.release).first()
    items = checklist.build(app.release, tier, rules, doc)
    context = {
        "application": app,
        "release": app.release,
        "tier": tier,
        "form": form,
        "items": items,
        "sections": _answers(app, tier, items),
        "process_items": [item for item in items if item.status == checklist.PROCESS],
        "documentation": doc,
        "results": app.release.benchmark_results.select_related("benchmark"),
        "artifacts": app.release.artifacts.all(),
        "evidence_files": app.release.evidence_files.all(),
        "is_admin": membership.is_admin,
        "open_change_request": app.change_requests.filter(resolved_at__isnull=True).first(),
    }
    if context["open_change_request"] is not None:
        titles = {r["id"]: r["title"] for r in rules["requirements"]}
        context["change_comments"] = [(titles.get(key, key), comment)
                                      for key, comment in context["open_change_request"].comments.items()]
    return render(request, "certification/releases/attest.html", context)


def _answers(app: Application, tier: int, items: list[checklist.ChecklistItem]) -> list[presentation.Section]:
    """Check your answers: the live documentation as it would be frozen, each section with its
    "Change" link and what the checklist still misses."""
    release = app.release
    content = release_applications.revision_content(release, tier, app.framework_version)
    by_id = {item.id: item for item in items}
    urls = {"release": reverse("certification:release-edit", args=[release.pk]),
            "artifacts": reverse("certification:release-artifacts", args=[release.pk]),
            "evidence": reverse("certification:evidence-upload", args=[release.pk])}
    rules = app.framework_version.rules
    sections = presentation.present(
        content, rules, benchmark_names=presentation.benchmark_names_for(content, rules),
        evidence_url=lambda e: reverse("certification:evidence-download", args=[e["id"]]),  # live files: all exist
        change_url=lambda sid: by_id[sid].url if sid in by_id else urls.get(sid, ""),
    )
    for section in sections:
        item = by_id.get(section.id)
        if item is not None and not item.met:
            section.problems = item.problems or [_("Not completed.")]
    return sections


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


@login_required
@require_GET
def revision_detail(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """A frozen revision read as a summary list per section; ``?compare=n`` adds the field-by-field
    differences from revision n."""
    app = get_application_for_user(request, pk)
    revision = get_object_or_404(DocumentationRevision, application=app, number=number)
    rules = app.framework_version.rules
    names = presentation.benchmark_names_for(revision.content, rules)
    diff = None
    compare = request.GET.get("compare")
    if compare and compare.isdigit():
        other = DocumentationRevision.objects.filter(application=app, number=int(compare)).first()
        if other is not None:
            names.update(presentation.benchmark_names_for(other.content, rules))
            diff = {"other": other, "rows": presentation.diff(other.content, revision.content, rules,
                                                              benchmark_names=names)}
    return render(request, "certification/releases/revision_detail.html", {
        "application": app, "revision": revision, "diff": diff,
        "json_url": reverse("certification:revision-json", args=[app.pk, revision.number]),
        "sections": presentation.present(revision.content, rules, benchmark_names=names,
                                          evidence_url=_evidence_url(app)),
        "revisions": app.revisions.order_by("number"),
    })


@login_required
@require_GET
def revision_json(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """The frozen revision as canonical JSON: the bytes whose sha256 the revision records."""
    app = get_application_for_user(request, pk)
    revision = get_object_or_404(DocumentationRevision, application=app, number=number)
    return presentation.json_download(revision, f"application-{app.pk}-revision-{revision.number}.json")


def _evidence_url(app: Application):
    """Links to the evidence files of the revision that still exist; the download view checks access."""
    existing = set(EvidenceFile.objects.filter(release_id=app.release_id).values_list("pk", flat=True))
    return lambda e: reverse("certification:evidence-download", args=[e["id"]]) if e.get("id") in existing else ""
