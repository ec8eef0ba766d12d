"""Conflicts, offers and engagements (DESIGN §5): conflict overrides and declarations, sending
offers (one per open seat, the next eligible auditor when one lapses), accepting under a row
lock (seat, capacity and Tier 4 coverage checked in one transaction), declining, expiry,
withdrawal, reassignment, and the reminders and overdue notices of offers and reports."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from auditors import conflicts
from auditors.assignment import facts as assignment_facts
from auditors.assignment import suggestions
from auditors.models import (
    Accreditation,
    AuditReport,
    ConflictRecord,
    Engagement,
    Offer,
)
from auditors.services import (
    OFFER_KIND,
    REPORT_KIND,
    engagement_url,
    load_application,
    offer_url,
    organization_of,
    staff_contacts,
)
from certification.framework import rules
from certification.framework.services import WorkflowError, require_staff
from certification.releases.models import Application
from portal import audit, deadlines, labels
from portal.models import User
from portal.notifications import notify

# --- conflicts -----------------------------------------------------------------------------------


def conflicts_for(app: Application, acc: Accreditation) -> list[conflicts.Conflict]:
    facts = assignment_facts.load([load_application(app)])
    auditor = facts.by_id.get(acc.pk)
    if auditor is None:
        return []
    return conflicts.check(auditor, facts.apps[app.pk], timezone.localdate())


def override_conflict(app: Application, acc: Accreditation, actor: User, code: str, reason: str,
                      request=None) -> ConflictRecord:
    """Staff lift a potential conflict with a recorded reason; hard ones never."""
    require_staff(actor)
    if not (reason or "").strip():
        raise WorkflowError(_("Give the reason for the override."), field="reason")
    if code in conflicts.HARD_CODES:
        raise WorkflowError(_("A hard conflict of interest cannot be overridden."), field="code")
    found = {c.code: c for c in conflicts_for(app, acc)}
    if code not in found:
        raise WorkflowError(_("This auditor has no such potential conflict with this application."), field="code")
    with transaction.atomic():
        record = ConflictRecord.objects.create(application=app, accreditation=acc, kind=ConflictRecord.Kind.OVERRIDE,
                                               code=code, reason=reason.strip(), recorded_by=actor)
        audit.log("auditors.conflict.overridden", actor=actor, obj=app, organization=organization_of(app),
                  request=request,
                  payload={"code": code, "staff_only": {"auditor": acc.user.pseudonym,
                                                        "conflict": found[code].reason, "reason": reason.strip()}})
    return record


def declare_conflict(app: Application, acc: Accreditation, actor: User, reason: str, request=None) -> ConflictRecord:
    """The auditor declares a conflict at any time: an open offer is declined, an
    engagement is flagged to staff for reassignment."""
    if acc.user_id != actor.pk:
        raise WorkflowError(_("Only the auditor can declare their own conflict."))
    if not (reason or "").strip():
        raise WorkflowError(_("Describe the conflict."), field="reason")
    with transaction.atomic():
        record = ConflictRecord.objects.create(application=app, accreditation=acc, kind=ConflictRecord.Kind.DECLARED,
                                               reason=reason.strip(), recorded_by=actor)
        audit.log("auditors.conflict.declared", actor=actor, obj=app, organization=organization_of(app),
                  request=request,
                  payload={"staff_only": {"auditor": acc.user.pseudonym, "reason": reason.strip()}})
        offer = Offer.objects.open().filter(application=app, accreditation=acc).first()
        if offer is not None:
            _decline(offer, Offer.DeclineReason.CONFLICT, reason.strip())
        engaged = Engagement.objects.current().filter(application=app, accreditation=acc).exists()
        notify(staff_contacts(app), "engagement-conflict-declared",
               {"application": app, "auditor": acc.user, "engaged": engaged, "reason": reason.strip()},
               url=reverse("auditors:staff-application", args=[app.pk]))
        if offer is not None:
            send_next_offer(app)
    return record


# --- offers ----------------------------------------------------------------------------------------


def _eligibility(app: Application, acc: Accreditation) -> suggestions.Candidate | None:
    facts = assignment_facts.load([app])
    auditor = facts.by_id.get(acc.pk)
    if auditor is None:
        return None
    state = facts.states[app.pk]
    covered = frozenset().union(*(facts.by_id[a].domains for a in state.engaged if a in facts.by_id))
    remaining = facts.apps[app.pk].flagged_domains - covered
    return suggestions.evaluate(auditor, facts.apps[app.pk], state, timezone.localdate(), remaining)


def send_offer(app: Application, acc: Accreditation, actor: User | None, request=None,
               check_seats: bool = True) -> Offer:
    """Offer a seat to an eligible auditor (staff, or the system passing an offer on)."""
    if actor is not None:
        require_staff(actor)
    app = load_application(app)
    if app.status != Application.Status.IN_REVIEW:
        raise WorkflowError(_("Offers go out only for applications in review."))
    seats = assignment_facts.seats_required(app)
    if seats == 0:
        raise WorkflowError(_("Tier %(t)d applications have no third-party audit.") % {"t": app.tier or 1})
    candidate = _eligibility(app, acc)
    if candidate is None:
        raise WorkflowError(_("%(who)s is not an active accredited auditor.") % {"who": acc.user.display_name},
                            field="accreditation")
    if not candidate.eligible:
        raise WorkflowError(_("%(who)s cannot get this offer: %(why)s")
                            % {"who": acc.user.display_name, "why": " ".join(candidate.reasons)},
                            field="accreditation")
    if check_seats and Engagement.objects.current().filter(application=app).count() >= seats:
        raise WorkflowError(_("Every audit seat of this application is filled."))
    length = rules.deadline_length(app.framework_version.rules, OFFER_KIND)
    now = timezone.now()
    try:
        with transaction.atomic():
            offer = Offer.objects.create(application=app, accreditation=acc, sent_by=actor, sent_at=now,
                                         expires_at=now + length)
            deadlines.open_deadline(offer, OFFER_KIND, offer.expires_at)
            audit.log("auditors.offer.sent", actor=actor, obj=offer, organization=organization_of(app), request=request,
                      payload={"application": app.pk, "staff_only": {"auditor": acc.user.pseudonym}})
            notify(acc.user, "offer-sent", {"offer": offer, "application": app, "days": length.days},
                   url=offer_url(offer))
    except IntegrityError as exc:
        raise WorkflowError(_("This auditor already has an open offer for this application.")) from exc
    return offer


def send_next_offer(app: Application, actor: User | None = None) -> Offer | None:
    """After a decline, an expiry or a reassignment: offer the best eligible auditor
    the seat, keeping Tier 4 coverage possible; tell staff when none is left."""
    app = load_application(app)
    if app.status != Application.Status.IN_REVIEW:
        return None
    suggestion = suggestions.suggest(app)
    if suggestion.open_seats <= 0:
        return None
    choice = None
    if suggestion.proposal:
        choice = suggestion.proposal[0]
    if choice is None:
        notify(staff_contacts(app), "offer-none-left",
               {"application": app, "problem": suggestion.problem, "open_seats": suggestion.open_seats},
               url=reverse("auditors:staff-application", args=[app.pk]))
        audit.log("auditors.offer.none_left", obj=app, organization=organization_of(app),
                  payload={"problem": str(suggestion.problem)})
        return None
    acc = Accreditation.objects.select_related("user").get(pk=choice.auditor.accreditation_id)
    return send_offer(app, acc, None)


def send_initial_offers(app: Application, actor: User, request=None) -> list[Offer]:
    """One offer per open seat, to the proposed auditors (DESIGN §5)."""
    require_staff(actor)
    suggestion = suggestions.suggest(load_application(app))
    if suggestion.open_seats and not suggestion.proposal:
        raise WorkflowError(str(suggestion.problem) or _("No eligible auditor is left."))
    offers = []
    with transaction.atomic():
        for candidate in suggestion.proposal:
            acc = Accreditation.objects.select_related("user").get(pk=candidate.auditor.accreditation_id)
            offers.append(send_offer(app, acc, actor, request=request))
    return offers


def accept_offer(offer: Offer, user: User, *, confidentiality: bool, request=None) -> Engagement:
    """Accept in one locked transaction: the seat is still open, the auditor within
    capacity, Tier 4 coverage still holds. Concurrent accepts queue on the
    application row, so a seat is never filled twice."""
    if not confidentiality:
        raise WorkflowError(_("Accept the confidentiality terms to take the engagement."), field="confidentiality")
    now = timezone.now()
    with transaction.atomic():
        # Lock order: application, then accreditation, then offer (the same everywhere).
        app = Application.objects.select_for_update().get(pk=offer.application_id)
        acc = Accreditation.objects.select_for_update().get(pk=offer.accreditation_id)
        offer = Offer.objects.select_for_update().get(pk=offer.pk)
        if acc.user_id != user.pk:
            raise WorkflowError(_("This offer is not yours."))
        if offer.status != Offer.Status.OPEN:
            raise WorkflowError(_("This offer is %(status)s; it can no longer be accepted.")
                                % {"status": offer.get_status_display().lower()})
        if offer.expires_at <= now:
            raise WorkflowError(_("This offer expired on %(at)s.") % {"at": labels.moment(offer.expires_at)})
        if not acc.is_active(now):
            raise WorkflowError(_("Your accreditation is not active."))
        if app.status != Application.Status.IN_REVIEW:
            raise WorkflowError(_("The application is no longer in review."))
        app = load_application(app)
        seats = assignment_facts.seats_required(app)
        if (app.tier or 0) not in {int(t) for t in acc.tiers}:
            raise WorkflowError(_("You are not accredited for Tier %(t)d.") % {"t": app.tier})
        holders = list(Engagement.objects.current().filter(application=app).select_related("accreditation"))
        if len(holders) >= seats:
            raise WorkflowError(_("Every audit seat of this application is already filled."))
        if Engagement.objects.active().filter(accreditation=acc).count() >= acc.capacity:
            raise WorkflowError(_("You are at capacity (%(c)d active engagements).") % {"c": acc.capacity})
        flagged = assignment_facts.flagged_domains(app)
        covered = set().union(*(set(h.accreditation.domains or []) for h in holders)) | set(acc.domains or [])
        if flagged and len(holders) + 1 == seats and not flagged <= covered:
            missing = ", ".join(sorted(flagged - covered))
            raise WorkflowError(_("The auditors of this application must together be accredited in every flagged "
                                  "domain; with you, %(d)s would stay uncovered.") % {"d": missing})
        blocking = [c for c in conflicts_for(app, acc) if c.blocking]
        if blocking:
            raise WorkflowError(_("A conflict of interest prevents this engagement: %(why)s")
                                % {"why": " ".join(c.reason for c in blocking)})
        taken = {h.seat for h in holders}
        seat = next(n for n in range(1, seats + 1) if n not in taken)
        length = rules.deadline_length(app.framework_version.rules, REPORT_KIND, app.tier or 3)
        engagement = Engagement.objects.create(application=app, accreditation=acc, offer=offer, seat=seat,
                                               accepted_at=now, report_due_at=now + length)
        AuditReport.objects.create(engagement=engagement)
        Offer.objects.filter(pk=offer.pk).update(status=Offer.Status.ACCEPTED, responded_at=now,
                                                 confidentiality_accepted_at=now)
        offer.status, offer.responded_at, offer.confidentiality_accepted_at = Offer.Status.ACCEPTED, now, now
        deadlines.close_deadlines(offer, OFFER_KIND)
        deadlines.open_deadline(engagement, REPORT_KIND, engagement.report_due_at)
        audit.log("auditors.offer.accepted", actor=user, obj=offer, organization=organization_of(app), request=request,
                  payload={"application": app.pk, "seat": seat, "confidentiality_accepted_at": now.isoformat(),
                           "report_due_at": engagement.report_due_at.isoformat()})
        notify(staff_contacts(app), "offer-accepted", {"application": app, "engagement": engagement,
                                                       "auditor": acc.user},
               url=reverse("auditors:staff-application", args=[app.pk]))
        if len(holders) + 1 >= seats:
            for other in Offer.objects.open().filter(application=app).select_related("accreditation__user"):
                withdraw_open_offer(other, None, gettext_lazy("Every seat of this audit is now filled."))
    return engagement


def _decline(offer: Offer, reason: str, note: str, status: str = Offer.Status.DECLINED) -> None:
    updated = Offer.objects.filter(pk=offer.pk, status=Offer.Status.OPEN).update(
        status=status, responded_at=timezone.now(), decline_reason=reason, decline_note=note)
    if not updated:
        raise WorkflowError(_("This offer is no longer open."))
    offer.status, offer.decline_reason, offer.decline_note = status, reason, note
    deadlines.close_deadlines(offer, OFFER_KIND)


def decline_offer(offer: Offer, user: User, reason: str, note: str = "", request=None) -> Offer:
    if offer.accreditation.user_id != user.pk:
        raise WorkflowError(_("This offer is not yours."))
    if reason not in Offer.DeclineReason.values:
        raise WorkflowError(_("Choose a reason."), field="reason")
    if reason == Offer.DeclineReason.OTHER and not note.strip():
        raise WorkflowError(_("Say why you decline."), field="note")
    app = offer.application
    with transaction.atomic():
        _decline(offer, reason, note.strip())
        if reason == Offer.DeclineReason.CONFLICT:
            ConflictRecord.objects.create(application=app, accreditation=offer.accreditation,
                                          kind=ConflictRecord.Kind.DECLARED,
                                          reason=note.strip() or _("Declared when declining the offer."),
                                          recorded_by=user)
        audit.log("auditors.offer.declined", actor=user, obj=offer, organization=organization_of(app), request=request,
                  payload={"reason": reason, "staff_only": {"note": note.strip()}})
        # The reason's label stays lazy: each staff member reads it in their language.
        label = dict(Offer.DeclineReason.choices).get(offer.decline_reason, offer.decline_reason)
        notify(staff_contacts(app), "offer-declined", {"offer": offer, "application": app, "reason": label},
               url=reverse("auditors:staff-application", args=[app.pk]))
        send_next_offer(app)
    return offer


def expire_offer(offer: Offer) -> bool:
    """The acceptance deadline passed (sweep): the offer expires and is passed on."""
    with transaction.atomic():
        updated = Offer.objects.filter(pk=offer.pk, status=Offer.Status.OPEN).update(
            status=Offer.Status.EXPIRED, responded_at=timezone.now())
        if not updated:
            return False
        offer.status = Offer.Status.EXPIRED
        app = offer.application
        audit.log("auditors.offer.expired", obj=offer, organization=organization_of(app),
                  payload={"application": app.pk})
        notify(offer.accreditation.user, "offer-expired", {"offer": offer, "application": app},
               url=offer_url(offer))
        send_next_offer(app)
    return True


def withdraw_open_offer(offer: Offer, actor: User | None, why: str) -> None:
    """``why`` is lazy (``gettext_lazy``): the auditor's email says it in their language."""
    updated = Offer.objects.filter(pk=offer.pk, status=Offer.Status.OPEN).update(
        status=Offer.Status.WITHDRAWN, responded_at=timezone.now())
    if not updated:
        return
    offer.status = Offer.Status.WITHDRAWN
    deadlines.close_deadlines(offer, OFFER_KIND, state="cancelled")
    audit.log("auditors.offer.withdrawn", actor=actor, obj=offer, organization=organization_of(offer.application),
              payload={"why": str(why)})
    notify(offer.accreditation.user, "offer-withdrawn", {"offer": offer, "why": why}, url=offer_url(offer))


def withdraw_offer(offer: Offer, actor: User, request=None) -> Offer:
    require_staff(actor)
    if offer.status != Offer.Status.OPEN:
        raise WorkflowError(_("This offer is no longer open."))
    with transaction.atomic():
        withdraw_open_offer(offer, actor, gettext_lazy("Withdrawn by Alliance staff."))
    return offer


def offer_reminder(offer: Offer, offset: timedelta) -> None:
    if offer.status == Offer.Status.OPEN:
        notify(offer.accreditation.user, "offer-reminder",
               {"offer": offer, "application": offer.application, "days_left": offset.days}, url=offer_url(offer))


# --- engagements ---------------------------------------------------------------------------------


def reassign(engagement: Engagement, actor: User, reason: str, request=None, offer_next: bool = True) -> Engagement:
    """Staff end an engagement; the auditor's access ends with their next request."""
    require_staff(actor)
    if not (reason or "").strip():
        raise WorkflowError(_("Give the reason for the reassignment."), field="reason")
    with transaction.atomic():
        updated = Engagement.objects.filter(pk=engagement.pk, status=Engagement.Status.ACTIVE).update(
            status=Engagement.Status.ENDED, ended_at=timezone.now(), ended_reason=reason.strip())
        if not updated:
            raise WorkflowError(_("Only an active engagement (report not filed) can be reassigned."))
        engagement.status = Engagement.Status.ENDED
        deadlines.close_deadlines(engagement, REPORT_KIND, state="cancelled")
        app = engagement.application
        audit.log("auditors.engagement.reassigned", actor=actor, obj=engagement, organization=organization_of(app),
                  request=request, payload={"application": app.pk,
                                            "staff_only": {"auditor": engagement.accreditation.user.pseudonym,
                                                           "reason": reason.strip()}})
        notify(engagement.accreditation.user, "engagement-ended", {"engagement": engagement, "application": app},
               url=reverse("auditors:my-network"))
        if offer_next:
            send_next_offer(app, actor)
    return engagement


def report_reminder(engagement: Engagement, offset: timedelta) -> None:
    if engagement.status == Engagement.Status.ACTIVE:
        notify(engagement.accreditation.user, "report-reminder",
               {"engagement": engagement, "application": engagement.application, "days_left": offset.days,
                "due_at": engagement.report_due_at}, url=engagement_url(engagement))


def report_overdue(engagement: Engagement, number: int) -> None:
    """Overdue notice ``number`` (1 at the due time, then one every ``repeat_every_days`` of the version)."""
    if engagement.status != Engagement.Status.ACTIVE:
        return
    app = load_application(engagement.application_id)
    recipients = [engagement.accreditation.user, *staff_contacts(app)]
    notify(recipients, "report-overdue", {"engagement": engagement, "application": app, "number": number,
                                          "due_at": engagement.report_due_at}, url=engagement_url(engagement))
    audit.log("auditors.report.overdue_notice", obj=engagement, organization=organization_of(app),
              payload={"number": number})


# --- batch offers --------------------------------------------------------------------------------


@dataclass
class SkippedPair:
    application_id: int
    accreditation_id: int
    reason: str


@dataclass
class BatchResult:
    """What ``send_batch_offers`` did: the offers sent, and the pairs skipped with why."""

    sent: list[Offer] = field(default_factory=list)
    skipped: list[SkippedPair] = field(default_factory=list)


def send_batch_offers(assignments: Iterable[tuple[int, int]], actor: User, request=None) -> BatchResult:
    """Send the offers of a reviewed batch proposal: ``assignments`` are
    (application id, accreditation id) pairs (``BatchProposal.assignments`` flattened,
    or the pairs staff confirmed).

    Steps, per pair and in its own transaction, so a refused or failed pair never
    undoes the offers already sent:
    1. lock the application row (the lock ``accept_offer`` takes first), so concurrent
       batches, retries and acceptances on the application queue behind each other;
    2. skip the pair if the auditor already has an open offer for the application (a
       re-posted proposal);
    3. skip it if every seat already has an engagement or an open offer (the proposal
       is stale, or another staff member's batch got there first);
    4. ``send_offer`` (eligibility, audit-log entry, notification; the partial unique
       constraint on open offers is the last guard). A ``WorkflowError`` skips the
       pair with its message; any other error propagates, the pairs already sent
       stay committed and re-posting is safe.
    """
    require_staff(actor)
    result = BatchResult()
    for app_id, acc_id in assignments:
        try:
            with transaction.atomic():
                app = Application.objects.select_for_update().filter(pk=app_id).first()
                if app is None:
                    raise WorkflowError(_("This application no longer exists."))
                acc = Accreditation.objects.select_related("user").filter(pk=acc_id).first()
                if acc is None:
                    raise WorkflowError(_("This auditor's accreditation no longer exists."))
                if Offer.objects.open().filter(application=app, accreditation=acc).exists():
                    raise WorkflowError(_("This auditor already has an open offer for this application."))
                seats = assignment_facts.seats_required(load_application(app))
                # Not in review, or no audit for the tier: ``send_offer`` refuses with its own message.
                if app.status == Application.Status.IN_REVIEW and seats:
                    held = (Engagement.objects.current().filter(application=app).count()
                            + Offer.objects.open().filter(application=app).count())
                    if held >= seats:
                        raise WorkflowError(_("Every audit seat of this application already has an auditor or "
                                              "an open offer."))
                offer = send_offer(app, acc, actor, request=request)
        except WorkflowError as exc:
            result.skipped.append(SkippedPair(int(app_id), int(acc_id), str(exc)))
        else:
            result.sent.append(offer)
    return result
