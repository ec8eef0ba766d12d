"""Staff pages of the auditor network: accreditation decisions, suggestions for one application,
overrides, and batch assignment."""

from __future__ import annotations

from datetime import datetime, time

from django.contrib import messages
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from auditors import conflicts
from auditors import forms as f
from auditors import reports as auditor_reports
from auditors import services as auditor_services
from auditors.assignment import batch as assignment_batch
from auditors.assignment import facts
from auditors.assignment import offers as assignment_offers
from auditors.assignment import suggestions as assignment_suggestions
from auditors.models import Accreditation, Engagement, Offer
from auditors.views.common import show_error
from certification.framework.services import WorkflowError
from certification.releases.models import Application
from portal.models import Deadline
from portal.views import staff_required

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
        show_error(request, exc)
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
        show_error(request, exc)
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
        show_error(request, exc)
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
            show_error(request, exc)
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
