"""Pages of the community review (DESIGN §6): open windows, enrolment, findings,
triage, responses and rejoinders, and the public findings of certified releases.

Views check access, call a service in ``certification.review``, turn its error
into a message or field errors, and redirect. The window pages name unreleased
models: anyone but vetted evaluators and staff gets 404 (DESIGN §3)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST

from auditors.models import Accreditation
from certification.framework import services as framework_services
from certification.releases import evidence, presentation
from certification.releases.access import get_application_for_user, show_workflow_error
from certification.releases.models import Application, Release
from certification.review import findings as review_findings
from certification.review import forms
from certification.review import services as review_services
from certification.review.models import Finding, FindingAttachment, ReviewWindow
from portal import organizations
from portal.views import staff_required

# --- access helpers ----------------------------------------------------------------------------------


def get_window_for_user(request: HttpRequest, pk: int) -> ReviewWindow:
    """Vetted evaluators and staff only; 404 for everyone else, signed in or not."""
    if not review_services.can_see_windows(request.user):
        raise Http404
    window = (ReviewWindow.objects.select_related("application__release__ai_model__organization",
                                                  "application__framework_version", "application__owner")
              .filter(pk=pk).first())
    if window is None:
        raise Http404
    return window


def get_finding_for_user(request: HttpRequest, pk: int) -> Finding:
    finding = (review_findings.findings_visible_to(request.user)
               .select_related("window__application__release__ai_model__organization",
                               "window__application__framework_version", "author", "triaged_by", "duplicate_of",
                               "response", "rejoinder")
               .filter(pk=pk).first())
    if finding is None:
        raise Http404
    return finding


def _error(request, exc: framework_services.WorkflowError, form=None) -> None:
    show_workflow_error(request, exc, form)


# --- windows -----------------------------------------------------------------------------------------


@require_GET
def window_list(request: HttpRequest) -> HttpResponse:
    """Open windows: model, organization, tier, closing time. Fixed query count."""
    if not review_services.can_see_windows(request.user):
        raise Http404
    now = timezone.now()
    windows = list(
        ReviewWindow.objects.open_at(now)
        .select_related("application__release__ai_model__organization")
        .annotate(enrolled=Count("enrolments", filter=Q(enrolments__withdrawn_at__isnull=True)),
                  mine=Count("enrolments", filter=Q(enrolments__user=request.user,
                                                     enrolments__withdrawn_at__isnull=True)))
        .order_by("closes_at", "pk")
    )
    return render(request, "certification/review/window_list.html", {"windows": windows, "now": now})


@require_GET
def window_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The window page. Evaluators with access see the access instructions and the review
    materials and their own findings; staff see every submitted finding and who enrolled.
    The number of queries does not depend on the number of findings."""
    window = get_window_for_user(request, pk)
    user = request.user
    is_staff = user.is_alliance_staff
    enrolment = review_services.current_enrolment(user, window)
    access = review_services.has_access(user, window)
    findings_qs = window.findings.all() if is_staff else window.findings.filter(author=user)
    if is_staff:
        findings_qs = findings_qs.exclude(status=Finding.Status.DRAFT)
    findings = list(review_findings.with_details(findings_qs).order_by("submitted_at", "pk"))
    materials = review_services.materials(window) if access or is_staff else None
    context = {
        "window": window,
        "application": window.application,
        "release": window.application.release,
        "organization": window.application.release.ai_model.organization,
        "is_open": window.is_open(),
        "is_staff": is_staff,
        "enrolment": enrolment,
        "access": access,
        "materials": materials,
        "submission": _submission(window, materials),
        "findings": findings,
        "enrolments": list(window.enrolments.select_related("user").order_by("enrolled_at")) if is_staff else [],
        "gates": review_services.review_gates(window.application) if is_staff else [],
    }
    return render(request, "certification/review/window_detail.html", context)


def _submission(window: ReviewWindow, materials) -> list[presentation.Section]:
    """The frozen documentation as the evaluator reads it (the access instructions have their own panel)."""
    if materials is None or materials.revision is None:
        return []
    content = materials.revision.content
    rules = window.application.framework_version.rules
    # Every file links to the download view, which checks access (an evaluator's lasts while the window is open).
    return presentation.present(
        content, rules, benchmark_names=presentation.benchmark_names_for(content, rules),
        hide_sections=["access_instructions"],
        evidence_url=lambda e: reverse("certification:evidence-download", args=[e["id"]]) if e.get("id") else "")


@login_required
def window_enrol(request: HttpRequest, pk: int) -> HttpResponse:
    window = get_window_for_user(request, pk)
    acc = review_services.evaluator_accreditation(request.user)
    conflicts = review_services.conflicts_for(window, acc) if acc else []
    form = forms.EnrolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            review_services.enrol(window, request.user, confidentiality=form.cleaned_data["confidentiality"],
                                  request=request)
        except framework_services.WorkflowError as exc:
            # The reasons, not the conflict codes (those are for API clients).
            messages.error(request, " ".join(exc.errors.get("non_field_errors") or [str(exc)]))
        else:
            messages.success(request, _("You are enrolled. The access instructions are below while the window is open."))
            return redirect("certification:review-window", window.pk)
    return render(request, "certification/review/enrol.html", {
        "window": window, "form": form, "conflicts": conflicts, "accreditation": acc})


@login_required
def window_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    window = get_window_for_user(request, pk)
    if request.method == "POST":
        try:
            review_services.withdraw_enrolment(window, request.user, request=request)
        except framework_services.WorkflowError as exc:
            _error(request, exc)
        else:
            messages.success(request, _("You left the review window. Your submitted findings stay."))
        return redirect("certification:review-window", window.pk)
    return render(request, "certification/review/confirm.html", {
        "title": _("Leave this review window"), "window": window,
        "intro": _("Your access to the review materials ends at once. Submitted findings stay; drafts can no longer "
                   "be submitted."),
    })


@staff_required
def window_override(request: HttpRequest, pk: int) -> HttpResponse:
    """Staff lift an evaluator's potential conflict with a recorded reason."""
    window = get_window_for_user(request, pk)
    form = forms.OverrideForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        acc = (Accreditation.objects.evaluators().select_related("user")
               .filter(user__email__iexact=form.cleaned_data["evaluator"]).first())
        if acc is None:
            form.add_error("evaluator", _("No evaluator has this email address."))
        else:
            try:
                review_services.override_conflict(window, acc, request.user, form.cleaned_data["code"],
                                         form.cleaned_data["reason"], request=request)
            except framework_services.WorkflowError as exc:
                _error(request, exc, form)
            else:
                messages.success(request, _("The potential conflict is overridden; the evaluator can enrol."))
                return redirect("certification:review-window", window.pk)
    return render(request, "certification/review/form.html", {
        "title": _("Override a potential conflict"), "window": window, "form": form,
        "intro": _("Hard conflicts cannot be overridden. The reason is recorded in the audit log."),
    })


# --- findings ------------------------------------------------------------------------------------------


@login_required
def finding_create(request: HttpRequest, pk: int) -> HttpResponse:
    window = get_window_for_user(request, pk)
    if not review_services.has_access(request.user, window):
        raise Http404
    form = forms.FindingForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            finding = review_findings.create_finding(window, request.user, form.data_for_service(), request=request)
        except framework_services.WorkflowError as exc:
            _error(request, exc, form)
        else:
            messages.success(request, _("Draft saved. Add attachments, then submit it; a submitted finding is final."))
            return redirect("certification:finding-detail", finding.pk)
    return render(request, "certification/review/finding_form.html", {"form": form, "window": window})


@login_required
def finding_edit(request: HttpRequest, pk: int) -> HttpResponse:
    finding = get_finding_for_user(request, pk)
    if finding.author_id != request.user.pk or not finding.is_draft:
        raise PermissionDenied
    form = forms.FindingForm(request.POST or None, instance=finding)
    if request.method == "POST" and form.is_valid():
        try:
            review_findings.update_draft(Finding.objects.get(pk=finding.pk), request.user, form.data_for_service(),
                                request=request)
        except framework_services.WorkflowError as exc:
            _error(request, exc, form)
        else:
            messages.success(request, _("Draft saved."))
            return redirect("certification:finding-detail", finding.pk)
    return render(request, "certification/review/finding_form.html",
                  {"form": form, "window": finding.window, "finding": finding})


@login_required
@require_GET
def finding_detail(request: HttpRequest, pk: int) -> HttpResponse:
    finding = get_finding_for_user(request, pk)
    user = request.user
    app = finding.window.application
    is_author = finding.author_id == user.pk
    is_admin = organizations.is_org_admin(user, app.release.organization)
    response = getattr(finding, "response", None)
    context = {
        "finding": finding,
        "window": finding.window,
        "application": app,
        "release": app.release,
        "attachments": finding.attachments.all(),
        "is_author": is_author,
        "is_staff": user.is_alliance_staff,
        "can_edit": is_author and finding.is_draft and review_services.has_access(user, finding.window),
        "can_triage": user.is_alliance_staff and finding.status == Finding.Status.SUBMITTED,
        "can_respond": is_admin and finding.status == Finding.Status.ACCEPTED and response is None,
        "can_rejoin": is_author and response is not None and getattr(finding, "rejoinder", None) is None,
        "attachment_form": forms.AttachmentForm(),
    }
    return render(request, "certification/review/finding_detail.html", context)


@login_required
def finding_submit(request: HttpRequest, pk: int) -> HttpResponse:
    finding = get_finding_for_user(request, pk)
    if finding.author_id != request.user.pk:
        raise PermissionDenied
    if request.method == "POST":
        try:
            review_findings.submit_finding(finding, request.user, request=request)
        except framework_services.WorkflowError as exc:
            _error(request, exc)
            return redirect("certification:finding-detail", finding.pk)
        messages.success(request, _("Finding submitted. Alliance staff triage it within 7 days; you will be told "
                                    "the outcome."))
        return redirect("certification:finding-detail", finding.pk)
    return render(request, "certification/review/confirm.html", {
        "title": _("Submit this finding"), "finding": finding, "window": finding.window,
        "intro": _("A submitted finding is final: you cannot change it or its attachments afterwards."),
    })


@login_required
@require_POST
def finding_delete(request: HttpRequest, pk: int) -> HttpResponse:
    finding = get_finding_for_user(request, pk)
    window_pk = finding.window_id
    try:
        review_findings.delete_draft(finding, request.user, request=request)
    except framework_services.WorkflowError as exc:
        _error(request, exc)
        return redirect("certification:finding-detail", finding.pk)
    messages.success(request, _("Draft deleted."))
    return redirect("certification:review-window", window_pk)


@csrf_exempt
@login_required
@require_POST
def finding_attach(request: HttpRequest, pk: int) -> HttpResponse:
    # The size limit is enforced while the body streams; the CSRF check runs after the
    # handler is in place (the pattern of views.evidence_upload).
    request.upload_handlers.insert(0, evidence.SizeLimitUploadHandler(request))
    return _finding_attach(request, pk)


@csrf_protect
def _finding_attach(request: HttpRequest, pk: int) -> HttpResponse:
    finding = get_finding_for_user(request, pk)
    if getattr(request, "upload_too_large", False):
        messages.error(request, _("The file is larger than the limit."))
        return redirect("certification:finding-detail", finding.pk)
    form = forms.AttachmentForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, " ".join(e for errs in form.errors.values() for e in errs))
        return redirect("certification:finding-detail", finding.pk)
    try:
        attachment = review_findings.add_attachment(finding, request.user, form.cleaned_data["file"], request=request)
    except framework_services.WorkflowError as exc:
        _error(request, exc)
    else:
        messages.success(request, _("%(name)s attached (sha256 %(sha)s…).") % {
            "name": attachment.display_name, "sha": attachment.sha256[:12]})
    return redirect("certification:finding-detail", finding.pk)


@login_required
@require_GET
def attachment_download(request: HttpRequest, pk: int) -> HttpResponse:
    attachment = FindingAttachment.objects.filter(pk=pk).first()
    if attachment is None or not review_findings.can_see_attachment(request.user, attachment):
        raise Http404
    return review_findings.attachment_response(attachment)


# --- triage, responses, rejoinders -------------------------------------------------------------------


@staff_required
def finding_triage(request: HttpRequest, pk: int) -> HttpResponse:
    finding = get_finding_for_user(request, pk)
    form = forms.TriageForm(request.POST or None, finding=finding)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            review_findings.triage(finding, request.user, data["outcome"], data["note"], severity=data["severity"],
                          severity_reason=data["severity_reason"], duplicate_of=data["duplicate_of"],
                          request=request)
        except framework_services.WorkflowError as exc:
            _error(request, exc, form)
        else:
            messages.success(request, _("Triage recorded: %(outcome)s.") % {
                "outcome": finding.get_status_display()})
            return redirect("certification:review-window", finding.window_id)
    return render(request, "certification/review/form.html", {
        "title": _("Triage the finding"), "finding": finding, "window": finding.window, "form": form,
        "show_finding": True,
    })


@login_required
def finding_respond(request: HttpRequest, pk: int) -> HttpResponse:
    finding = get_finding_for_user(request, pk)
    if not organizations.is_org_admin(request.user, finding.window.application.release.organization):
        raise PermissionDenied
    form = forms.ResponseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            review_findings.respond(finding, request.user, data["kind"], data["details"], data["fixed_in"],
                                    request=request)
        except framework_services.WorkflowError as exc:
            _error(request, exc, form)
        else:
            messages.success(request, _("Response recorded. It is public once the release is certified."))
            return redirect("certification:application-findings", finding.window.application_id)
    return render(request, "certification/review/form.html", {
        "title": _("Respond to the finding"), "finding": finding, "window": finding.window, "form": form,
        "show_finding": True,
        "intro": _("Your response is public on the release's page once it is certified."),
    })


@login_required
def finding_rejoinder(request: HttpRequest, pk: int) -> HttpResponse:
    finding = get_finding_for_user(request, pk)
    if finding.author_id != request.user.pk:
        raise PermissionDenied
    form = forms.RejoinderForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            review_findings.add_rejoinder(finding, request.user, form.cleaned_data["text"], request=request)
        except framework_services.WorkflowError as exc:
            _error(request, exc, form)
        else:
            messages.success(request, _("Rejoinder added."))
            return redirect("certification:finding-detail", finding.pk)
    return render(request, "certification/review/form.html", {
        "title": _("Add a rejoinder"), "finding": finding, "window": finding.window, "form": form,
        "show_finding": True,
    })


# --- the organization's list and the public page --------------------------------------------------


@login_required
@require_GET
def application_findings(request: HttpRequest, pk: int) -> HttpResponse:
    """The organization's findings of one application (members and staff). Fixed query count:
    the application, the membership, the window, the findings with their details, attachments."""
    app = get_application_for_user(request, pk)
    window = ReviewWindow.objects.filter(application=app).first()
    findings = []
    if window is not None:
        findings = list(review_findings.with_details(window.findings.submitted()).order_by("submitted_at", "pk"))
    is_admin = organizations.is_org_admin(request.user, app.release.organization)
    return render(request, "certification/review/application_findings.html", {
        "application": app, "release": app.release, "window": window, "findings": findings, "is_admin": is_admin,
        "gates": review_services.review_gates(app) if app.status == Application.Status.IN_REVIEW else [],
    })


@require_GET
def release_findings(request: HttpRequest, pk: int) -> HttpResponse:
    """Public: the findings and responses of a certified release, infohazards redacted."""
    release = Release.objects.select_related("ai_model__organization").filter(pk=pk).first()
    app = review_findings.certified_application(release) if release else None
    if app is None:
        raise Http404
    return render(request, "certification/review/release_findings.html", {
        "release": release, "application": app, "findings": review_findings.public_findings(app)})

