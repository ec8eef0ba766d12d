"""Pages of the auditor network: joining, the directory, the auditor's
dashboard, offers, engagements and reports, the applicant's audit page, and
the staff pages (accreditation decisions, suggestions, batch assignment)."""

from __future__ import annotations

import json
from datetime import datetime, time

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from auditors import access, conflicts
from auditors import forms as f
from auditors import reports as auditor_reports
from auditors import services as auditor_services
from auditors.assignment import batch as assignment_batch
from auditors.assignment import facts
from auditors.assignment import offers as assignment_offers
from auditors.assignment import suggestions as assignment_suggestions
from auditors.models import Accreditation, AuditReport, Engagement, Offer, SupportingFile
from certification.framework.services import WorkflowError
from certification.releases.models import Application, EvidenceFile
from portal.models import Deadline
from portal.views import staff_required


def _error(request, exc: WorkflowError, form=None) -> None:
    if form is not None:
        for field, errors in exc.errors.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, error)
        return
    details = [e for errs in exc.errors.values() for e in errs if e != str(exc)]
    messages.error(request, " ".join([str(exc), *details]))


def _private_download(folder: str, stored: str, name: str, content_type: str) -> FileResponse:
    path = auditor_services.private_path(folder, stored)
    if not stored or not path.exists():
        raise Http404
    response = FileResponse(open(path, "rb"), as_attachment=True, filename=name, content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


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
            _error(request, exc, form)
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
            _error(request, exc)
    else:
        messages.error(request, _("Name the organization and the relation."))
    return redirect("auditors:my-network")


@login_required
@require_GET
def supporting_file(request: HttpRequest, pk: int) -> HttpResponse:
    sf = SupportingFile.objects.select_related("accreditation").filter(pk=pk).first()
    if sf is None or not (request.user.is_alliance_staff or sf.accreditation.user_id == request.user.pk):
        raise Http404
    return _private_download("accreditation", sf.stored_name, sf.display_name,
                             "application/pdf" if sf.family == "pdf" else "text/plain; charset=utf-8")


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
        _error(request, exc)
        return redirect("auditors:offer-detail", offer.pk)
    messages.success(request, _("You accepted the engagement. The report is due by %(due)s.")
                     % {"due": timezone.localtime(engagement.report_due_at).strftime("%d %b %Y %H:%M")})
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
        _error(request, exc)
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
        _error(request, exc)
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
    evidence_ids = [e["id"] for e in content.get("evidence", [])]
    evidence = EvidenceFile.objects.filter(pk__in=evidence_ids, release_id=app.release_id)
    return render(request, "auditors/submission.html", {
        "engagement": engagement, "application": app, "revision": revision,
        "access_instructions": (content.get("sections", {}).get("access_instructions") or {}).get("instructions", ""),
        "sections": sorted((content.get("sections") or {}).items()),
        "results": content.get("benchmark_results", []),
        "evidence": evidence,
        "content_json": json.dumps(content, indent=2, sort_keys=True, ensure_ascii=False),
    })


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
    results = _results_for(engagement)
    reproduced = {r["benchmark"]: r["reproduced"] for r in report.reproduced_results}
    initial = {"scope": report.scope, "methods": report.methods, "issues": f.issues_to_text(report.issues),
               "recommendation": report.recommendation,
               "conditions": "\n".join(c.text for c in report.conditions.all()),
               **{f"reproduced_{i}": reproduced.get(r["benchmark"], "") for i, r in enumerate(results)}}
    form = f.ReportForm(request.POST or None, request.FILES or None, results=results, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            if "file" in request.POST:
                auditor_reports.file_report(engagement, request.user, form.report_data(),
                                            form.cleaned_data["conditions"],
                                     signed_file=form.cleaned_data.get("signed_file"), request=request)
                messages.success(request, _("Report filed. It is now locked."))
                return redirect("auditors:engagement-detail", engagement.pk)
            auditor_reports.save_report_draft(engagement, request.user, form.report_data(),
                                       form.cleaned_data["conditions"], request=request)
            messages.success(request, _("Draft saved."))
            return redirect("auditors:engagement-report", engagement.pk)
        except WorkflowError as exc:
            _error(request, exc, form)
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
    return _private_download("reports", report.signed_file_stored, report.signed_file_name, "application/pdf")


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
        _error(request, exc)
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
            _error(request, exc, form)
    return render(request, "auditors/reason_form.html", {
        "form": form, "title": _("Reassign the engagement"), "subject": engagement})


# --- conditions -------------------------------------------------------------------------------------------


def _condition_action(request, pk: int, action, success: str) -> HttpResponse:
    condition = access.get_condition_for_user(request.user, pk)
    try:
        action(condition)
        messages.success(request, success)
    except WorkflowError as exc:
        _error(request, exc)
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


# --- staff: accreditations -----------------------------------------------------------------------------------


@staff_required
@require_GET
def staff_accreditations(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status") or ""
    role = request.GET.get("role") or ""
    qs = Accreditation.objects.select_related("user").order_by("-created_at")
    if status in Accreditation.Status.values:
        qs = qs.filter(status=status)
    if role in Accreditation.Role.values:
        qs = qs.filter(role=role)
    return render(request, "auditors/staff_accreditations.html", {
        "pending": Accreditation.objects.awaiting_decision().select_related("user").order_by("created_at")[:200],
        "accreditations": qs[:300], "status": status, "role": role,
        "statuses": Accreditation.Status.choices, "roles": Accreditation.Role.choices,
    })


def _staff_accreditation(pk: int) -> Accreditation:
    acc = Accreditation.objects.select_related("user", "decided_by").filter(pk=pk).first()
    if acc is None:
        raise Http404
    return acc


@staff_required
@require_GET
def staff_accreditation(request: HttpRequest, pk: int) -> HttpResponse:
    acc = _staff_accreditation(pk)
    return render(request, "auditors/staff_accreditation.html", {
        "accreditation": acc, "affiliations": acc.affiliations.select_related("organization"),
        "files": acc.files.all(),
        "approve_form": f.ApproveForm(initial={"tiers": acc.requested_tiers, "domains": acc.requested_domains,
                                               "capacity": acc.capacity}),
        "reason_form": f.ReasonForm(),
        "engagements": acc.engagements.select_related("application__release__ai_model").order_by("-accepted_at")[:50],
        "deadlines": Deadline.objects.for_object(acc).open(),
    })


def _staff_decision(request, pk: int, action, success: str) -> HttpResponse:
    acc = _staff_accreditation(pk)
    try:
        action(acc)
        messages.success(request, success)
    except WorkflowError as exc:
        _error(request, exc)
    return redirect("auditors:staff-accreditation", acc.pk)


@staff_required
@require_POST
def staff_accreditation_approve(request: HttpRequest, pk: int) -> HttpResponse:
    form = f.ApproveForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Check the tiers, domains, capacity and validity."))
        return redirect("auditors:staff-accreditation", pk)
    data = form.cleaned_data
    valid_until = None
    if data.get("valid_until"):
        valid_until = timezone.make_aware(datetime.combine(data["valid_until"], time.min))
    return _staff_decision(request, pk, lambda acc: auditor_services.approve_accreditation(
        acc, request.user, tiers=data["tiers"], domains=data["domains"], capacity=data["capacity"],
        valid_until=valid_until, request=request), _("Accreditation approved."))


@staff_required
@require_POST
def staff_accreditation_reject(request: HttpRequest, pk: int) -> HttpResponse:
    return _staff_decision(request, pk, lambda acc: auditor_services.reject_accreditation(
        acc, request.user, request.POST.get("reason", ""), request=request), _("Application rejected."))


@staff_required
@require_POST
def staff_accreditation_suspend(request: HttpRequest, pk: int) -> HttpResponse:
    return _staff_decision(request, pk, lambda acc: auditor_services.suspend_accreditation(
        acc, request.user, request.POST.get("reason", ""), request=request), _("Accreditation suspended."))


@staff_required
@require_POST
def staff_accreditation_reinstate(request: HttpRequest, pk: int) -> HttpResponse:
    return _staff_decision(request, pk, lambda acc: auditor_services.reinstate_accreditation(
        acc, request.user, request=request), _("Accreditation reinstated."))


# --- staff: assignment -------------------------------------------------------------------------------------


def _audited_in_review():
    return (Application.objects.filter(status=Application.Status.IN_REVIEW, tier__gte=3)
            .select_related("release__ai_model__organization", "framework_version", "owner").order_by("submitted_at"))


@staff_required
@require_GET
def staff_assignments(request: HttpRequest) -> HttpResponse:
    """Each Tier 3/4 application's assignment state, and each auditor's load."""
    apps = list(_audited_in_review()[:300])
    held = Count("engagements", filter=Q(engagements__status__in=Engagement.SEAT_STATES), distinct=True)
    filed = Count("engagements", filter=Q(engagements__status=Engagement.Status.COMPLETED), distinct=True)
    offered = Count("offers", filter=Q(offers__status=Offer.Status.OPEN), distinct=True)
    counts = {row["pk"]: row for row in Application.objects.filter(pk__in=[a.pk for a in apps]).annotate(
        held=held, filed=filed, offered=offered).values("pk", "held", "filed", "offered")}
    rows = [{"application": a, "seats": facts.seats_required(a), **counts.get(a.pk, {})} for a in apps]
    auditors = (Accreditation.objects.auditors().filter(status__in=[Accreditation.Status.APPROVED,
                                                                      Accreditation.Status.SUSPENDED])
                .select_related("user")
                .annotate(active=Count("engagements", filter=Q(engagements__status=Engagement.Status.ACTIVE),
                                       distinct=True),
                          open_offers=Count("offers", filter=Q(offers__status=Offer.Status.OPEN), distinct=True))
                .order_by("user__name")[:500])
    return render(request, "auditors/staff_assignments.html", {"rows": rows, "auditors": auditors})


@staff_required
@require_GET
def staff_application(request: HttpRequest, pk: int) -> HttpResponse:
    app = (Application.objects.select_related("release__ai_model__organization", "framework_version", "owner")
           .filter(pk=pk).first())
    if app is None:
        raise Http404
    suggestion = assignment_suggestions.suggest(app)
    engagements = app.engagements.select_related("accreditation__user", "report").order_by("seat", "-accepted_at")
    offers = app.offers.select_related("accreditation__user").order_by("-sent_at")
    return render(request, "auditors/staff_application.html", {
        "application": app, "suggestion": suggestion, "engagements": engagements, "offers": offers,
        "potential_codes": conflicts.POTENTIAL_CODES, "gates": auditor_reports.audit_gates(app),
        "in_review": app.status == Application.Status.IN_REVIEW,
    })


@staff_required
@require_POST
def staff_send_offers(request: HttpRequest, pk: int) -> HttpResponse:
    app = Application.objects.filter(pk=pk).first()
    if app is None:
        raise Http404
    try:
        if request.POST.get("proposal"):
            sent = assignment_offers.send_initial_offers(app, request.user, request=request)
        else:
            ids = [int(v) for v in request.POST.getlist("accreditation") if v.isdigit()]
            sent = [assignment_offers.send_offer(app, acc, request.user, request=request)
                    for acc in Accreditation.objects.filter(pk__in=ids).select_related("user")]
        messages.success(request, _("%(n)d offer(s) sent.") % {"n": len(sent)})
    except WorkflowError as exc:
        _error(request, exc)
    return redirect("auditors:staff-application", pk)


@staff_required
@require_POST
def staff_override(request: HttpRequest, pk: int) -> HttpResponse:
    app = Application.objects.select_related("release__ai_model__organization").filter(pk=pk).first()
    form = f.OverrideForm(request.POST)
    if app is None:
        raise Http404
    if not form.is_valid():
        messages.error(request, _("Choose the conflict and give the reason for the override."))
        return redirect("auditors:staff-application", pk)
    acc = Accreditation.objects.filter(pk=form.cleaned_data["accreditation"]).first()
    if acc is None:
        raise Http404
    try:
        assignment_offers.override_conflict(app, acc, request.user, form.cleaned_data["code"],
                                            form.cleaned_data["reason"],
                                   request=request)
        messages.success(request, _("Potential conflict overridden; the reason is in the audit log."))
    except WorkflowError as exc:
        _error(request, exc)
    return redirect("auditors:staff-application", pk)


@staff_required
def staff_batch(request: HttpRequest) -> HttpResponse:
    """A batch proposal for every Tier 3/4 application with open seats; offers go
    out only after staff review it and confirm."""
    if request.method == "POST":
        # The service re-checks every pair in the database (application in review, seats
        # still open, no open offer yet), so a stale or re-posted proposal is safe.
        pairs = []
        for value in request.POST.getlist("assignment"):
            app_id, _sep, acc_id = value.partition(":")
            if app_id.isdigit() and acc_id.isdigit():
                pairs.append((int(app_id), int(acc_id)))
        try:
            result = assignment_offers.send_batch_offers(pairs, request.user, request=request)
        except WorkflowError as exc:
            _error(request, exc)
            return redirect("auditors:staff-assignments")
        messages.success(request, _("%(n)d offer(s) sent.") % {"n": len(result.sent)})
        for skipped in result.skipped:
            messages.error(request, f"#{skipped.application_id}: {skipped.reason}")
        return redirect("auditors:staff-assignments")
    apps = list(_audited_in_review()[:500])
    proposal = assignment_batch.propose_batch(apps)
    by_pk = {a.pk: a for a in apps}
    names = dict(Accreditation.objects.filter(pk__in=list(proposal.loads)).values_list("pk", "user__name"))
    return render(request, "auditors/staff_batch.html", {
        "proposal": proposal,
        "assignments": [(by_pk[a], [(acc, names.get(acc, acc)) for acc in accs])
                        for a, accs in proposal.assignments.items()],
        "unservable": [(by_pk[a], why) for a, why in proposal.unservable.items()],
        "loads": [(names.get(acc, acc), n, c) for acc, (n, c) in sorted(proposal.loads.items())],
        "max_ratio_pct": round(proposal.max_load_ratio * 100),
    })
