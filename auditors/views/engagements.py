"""Offers, engagements and audit reports (the auditor's workspace), report conditions, and the
applicant's audit page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from auditors import access
from auditors import forms as f
from auditors import reports as auditor_reports
from auditors.assignment import facts
from auditors.assignment import offers as assignment_offers
from auditors.models import AuditReport, Engagement
from auditors.views.common import private_download, show_error
from certification.framework.services import WorkflowError
from certification.releases import presentation
from certification.releases.models import EvidenceFile
from portal import labels
from portal.views import staff_required

# --- offers ------------------------------------------------------------------------------------------------


@login_required
@require_GET
def offer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    offer = access.get_offer_for_user(request.user, pk)
    app = offer.application
    return render(request, "auditors/offer_detail.html", {
        "offer": offer, "application": app, "release": app.release,
        "flagged": sorted(facts.flagged_domains(app)), "seats": facts.seats_required(app),
        "is_mine": offer.accreditation.user_id == request.user.pk,
        "open": offer.is_open(), "accept_form": f.AcceptOfferForm(), "decline_form": f.DeclineOfferForm(),
    })


@login_required
@require_POST
def offer_accept(request: HttpRequest, pk: int) -> HttpResponse:
    offer = access.get_offer_for_user(request.user, pk)
    form = f.AcceptOfferForm(request.POST)
    try:
        engagement = assignment_offers.accept_offer(offer, request.user, confidentiality=form.is_valid(),
                                                    request=request)
    except WorkflowError as exc:
        show_error(request, exc)
        return redirect("auditors:offer-detail", offer.pk)
    messages.success(request, _("You accepted the engagement. The report is due by %(due)s.")
                     % {"due": labels.moment(engagement.report_due_at)})
    return redirect("auditors:engagement-detail", engagement.pk)


@login_required
@require_POST
def offer_decline(request: HttpRequest, pk: int) -> HttpResponse:
    offer = access.get_offer_for_user(request.user, pk)
    form = f.DeclineOfferForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a reason."))
        return redirect("auditors:offer-detail", offer.pk)
    try:
        assignment_offers.decline_offer(offer, request.user, form.cleaned_data["reason"], form.cleaned_data["note"],
                               request=request)
        messages.success(request, _("You declined the offer."))
    except WorkflowError as exc:
        show_error(request, exc)
        return redirect("auditors:offer-detail", offer.pk)
    return redirect("auditors:my-network")


@staff_required
@require_POST
def offer_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    offer = access.get_offer_for_user(request.user, pk)
    try:
        assignment_offers.withdraw_offer(offer, request.user, request=request)
        messages.success(request, _("Offer withdrawn."))
    except WorkflowError as exc:
        show_error(request, exc)
    return redirect("auditors:staff-application", offer.application_id)


# --- engagements and reports ------------------------------------------------------------------------------


def _workspace_engagement(request, pk: int) -> Engagement:
    """Staff or the engaged auditor; everyone else (the applicant included) gets 404."""
    engagement = access.get_engagement_for_user(request.user, pk)
    if request.user.is_alliance_staff or access.is_engaged_auditor(request.user, engagement):
        return engagement
    raise Http404


@login_required
@require_GET
def engagement_detail(request: HttpRequest, pk: int) -> HttpResponse:
    engagement = _workspace_engagement(request, pk)
    report = getattr(engagement, "report", None)
    return render(request, "auditors/engagement_detail.html", {
        "engagement": engagement, "application": engagement.application, "report": report,
        "conditions": report.conditions.all() if report else [],
        "is_mine": access.is_engaged_auditor(request.user, engagement),
        "can_read": access.reading_engagements(request.user).filter(pk=engagement.pk).exists()
        or request.user.is_alliance_staff,
        "conflict_form": f.ReasonForm(), "review_form": f.ConditionReviewForm(),
    })


@login_required
@require_GET
def engagement_submission(request: HttpRequest, pk: int) -> HttpResponse:
    """The frozen submission and the model-access instructions, only while engaged."""
    engagement = access.get_submission_engagement(request.user, pk)
    app = engagement.application
    revision = app.revisions.order_by("-number").first()
    if revision is None:
        raise Http404
    content = revision.content
    existing = set(EvidenceFile.objects.filter(release_id=app.release_id).values_list("pk", flat=True))
    rules = app.framework_version.rules
    return render(request, "auditors/submission.html", {
        "engagement": engagement, "application": app, "revision": revision,
        "access_instructions": (content.get("sections", {}).get("access_instructions") or {}).get("instructions", ""),
        "sections": presentation.present(
            content, rules, benchmark_names=presentation.benchmark_names_for(content, rules),
            hide_sections=["access_instructions"],  # shown first, in its own panel
            evidence_url=lambda e: reverse("certification:evidence-download", args=[e["id"]])
            if e.get("id") in existing else ""),
        "json_url": reverse("auditors:engagement-submission-json", args=[engagement.pk]),
    })


@login_required
@require_GET
def engagement_submission_json(request: HttpRequest, pk: int) -> HttpResponse:
    """The frozen submission as canonical JSON, with the same access as its page."""
    engagement = access.get_submission_engagement(request.user, pk)
    revision = engagement.application.revisions.order_by("-number").first()
    if revision is None:
        raise Http404
    return presentation.json_download(
        revision, f"application-{engagement.application_id}-revision-{revision.number}.json")


def _results_for(engagement: Engagement) -> list[dict]:
    revision = engagement.application.revisions.order_by("-number").first()
    return list((revision.content if revision else {}).get("benchmark_results", []))


@login_required
def engagement_report(request: HttpRequest, pk: int) -> HttpResponse:
    """The auditor edits the draft and files it; staff and (once filed) the applicant read it."""
    engagement = access.get_report_engagement(request.user, pk)
    report = AuditReport.objects.get_or_create(engagement=engagement)[0]
    editable = (access.is_engaged_auditor(request.user, engagement) and not report.is_filed
                and engagement.status == Engagement.Status.ACTIVE)
    if not editable:
        if request.method == "POST":
            messages.error(request, _("A filed report is locked.") if report.is_filed else
                           _("Only the engaged auditor can write this report."))
            return redirect("auditors:engagement-report", engagement.pk)
        return render(request, "auditors/report_view.html", {
            "engagement": engagement, "application": engagement.application, "report": report,
            "conditions": report.conditions.all()})
    report_url = reverse("auditors:engagement-report", args=[engagement.pk])
    if request.method == "POST" and request.POST.get("confirm_file") == "1":
        # The confirmation page files the saved draft exactly as it listed it.
        try:
            auditor_reports.file_report(engagement, request.user, request=request)
        except WorkflowError as exc:
            show_error(request, exc)
            return redirect(report_url + "?confirm=1")
        messages.success(request, _("Report filed. It is now locked."))
        return redirect("auditors:engagement-detail", engagement.pk)
    if request.method == "GET" and request.GET.get("confirm") == "1":
        return render(request, "auditors/report_confirm.html", {
            "engagement": engagement, "application": engagement.application, "report": report,
            "conditions": report.conditions.all(), "problems": auditor_reports.filing_problems(report),
            "labels": {name: field.label for name, field in f.ReportForm.base_fields.items()},
        })
    results = _results_for(engagement)
    reproduced = {r["benchmark"]: r["reproduced"] for r in report.reproduced_results}
    initial = {"scope": report.scope, "methods": report.methods, "issues": f.issues_to_text(report.issues),
               "recommendation": report.recommendation,
               "conditions": "\n".join(c.text for c in report.conditions.all()),
               **{f"reproduced_{i}": reproduced.get(r["benchmark"], "") for i, r in enumerate(results)}}
    form = f.ReportForm(request.POST or None, request.FILES or None, results=results, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            # Both buttons save the draft with its file; filing then goes through the confirmation page.
            auditor_reports.save_report_draft(engagement, request.user, form.report_data(),
                                              form.cleaned_data["conditions"],
                                              signed_file=form.cleaned_data.get("signed_file"), request=request)
        except WorkflowError as exc:
            show_error(request, exc, form)
        else:
            if "file" in request.POST:
                return redirect(report_url + "?confirm=1")
            messages.success(request, _("Draft saved."))
            return redirect(report_url)
    return render(request, "auditors/report_form.html", {
        "engagement": engagement, "application": engagement.application, "report": report, "form": form,
        "results_count": len(results)})


@login_required
@require_GET
def engagement_report_download(request: HttpRequest, pk: int) -> HttpResponse:
    engagement = access.get_report_engagement(request.user, pk)
    report = getattr(engagement, "report", None)
    if report is None or not report.signed_file_stored:
        raise Http404
    return private_download("reports", report.signed_file_stored, report.signed_file_name, "application/pdf")


@login_required
@require_POST
def engagement_conflict(request: HttpRequest, pk: int) -> HttpResponse:
    engagement = _workspace_engagement(request, pk)
    form = f.ReasonForm(request.POST)
    try:
        assignment_offers.declare_conflict(engagement.application, engagement.accreditation, request.user,
                                  request.POST.get("reason", "") if form.is_valid() else "", request=request)
        messages.success(request, _("Conflict declared. Alliance staff will reassign the engagement."))
    except WorkflowError as exc:
        show_error(request, exc)
    return redirect("auditors:engagement-detail", engagement.pk)


@staff_required
def engagement_reassign(request: HttpRequest, pk: int) -> HttpResponse:
    engagement = access.get_engagement_for_user(request.user, pk)
    form = f.ReasonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            assignment_offers.reassign(engagement, request.user, form.cleaned_data["reason"], request=request)
            messages.success(request, _("Engagement ended; the next eligible auditor gets an offer."))
            return redirect("auditors:staff-application", engagement.application_id)
        except WorkflowError as exc:
            show_error(request, exc, form)
    return render(request, "auditors/reason_form.html", {
        "form": form, "title": _("Reassign the engagement"), "subject": engagement})


# --- conditions -------------------------------------------------------------------------------------------


def _condition_action(request, pk: int, action, success: str) -> HttpResponse:
    condition = access.get_condition_for_user(request.user, pk)
    try:
        action(condition)
        messages.success(request, success)
    except WorkflowError as exc:
        show_error(request, exc)
    back = request.POST.get("next", "")
    if back.startswith("/") and not back.startswith("//"):
        return redirect(back)
    return redirect("auditors:application-audit", condition.report.engagement.application_id)


@login_required
@require_POST
def condition_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    return _condition_action(request, pk, lambda c: auditor_reports.resolve_condition(
        c, request.user, request.POST.get("resolution", ""), request=request), _("Condition marked resolved."))


@login_required
@require_POST
def condition_accept(request: HttpRequest, pk: int) -> HttpResponse:
    return _condition_action(request, pk, lambda c: auditor_reports.accept_condition(
        c, request.user, request.POST.get("note", ""), request=request), _("Condition accepted."))


@login_required
@require_POST
def condition_return(request: HttpRequest, pk: int) -> HttpResponse:
    return _condition_action(request, pk, lambda c: auditor_reports.return_condition(
        c, request.user, request.POST.get("note", ""), request=request), _("Condition returned to the organization."))


# --- the applicant's audit page ------------------------------------------------------------------------------


@login_required
@require_GET
def application_audit(request: HttpRequest, pk: int) -> HttpResponse:
    app, membership = access.get_application_audit(request.user, pk)
    engagements = list(app.engagements.filter(status__in=Engagement.SEAT_STATES)
                       .select_related("accreditation__user", "report").prefetch_related("report__conditions"))
    return render(request, "auditors/application_audit.html", {
        "application": app, "membership": membership, "engagements": engagements,
        "seats": facts.seats_required(app), "gates": auditor_reports.audit_gates(app),
        "resolve_form": f.ResolveConditionForm(), "is_staff": request.user.is_alliance_staff,
    })
