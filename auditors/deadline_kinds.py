"""Deadline kinds of the auditor network (DESIGN §2.4), registered with the
shared engine in ``portal.deadlines``: offer acceptance, audit report (with
overdue notices repeated every 3 days), accreditation expiry. Reminder
offsets come from the framework data; lengths from each application's version."""

from __future__ import annotations

from django.urls import reverse

from certification.framework import rules
from portal import deadlines
from portal.notifications import notify


def _offer_reminder(deadline, offer, offset) -> None:
    from auditors.assignment.offers import offer_reminder

    offer_reminder(offer, offset)


def _offer_due(deadline, offer) -> None:
    from auditors.assignment.offers import expire_offer

    expire_offer(offer)


def _report_reminder(deadline, engagement, offset) -> None:
    from auditors.assignment.offers import report_reminder

    report_reminder(engagement, offset)


def _report_due(deadline, engagement) -> None:
    from auditors.assignment.offers import report_overdue

    report_overdue(engagement, 1)


def _report_overdue(deadline, engagement, repeat: int) -> None:
    from auditors.assignment.offers import report_overdue

    # Repeat 1 is three days after the due time: the second notice.
    report_overdue(engagement, repeat + 1)


def _expiry_reminder(deadline, accreditation, offset) -> None:
    from auditors.models import Accreditation
    from portal.organizations import staff_users

    if accreditation.status != Accreditation.Status.APPROVED:
        return
    notify([accreditation.user, *staff_users()], "accreditation-expiry-reminder",
           {"accreditation": accreditation, "days_left": offset.days, "due_at": deadline.due_at},
           url=reverse("auditors:my-network"))


def _expiry_due(deadline, accreditation) -> None:
    from auditors.services import lapse_accreditation

    lapse_accreditation(accreditation)


deadlines.register(rules.deadline_kind(
    "offer_acceptance", _offer_reminder, _offer_due, pending=lambda offer: offer.status == "open",
    description="An auditor's offer: accepted or declined in time, or it expires and passes to the next auditor.",
))
deadlines.register(rules.deadline_kind(
    "audit_report", _report_reminder, _report_due,
    on_overdue=_report_overdue, pending=lambda engagement: engagement.status == "active",
    description="The audit report: overdue notices to the auditor and the owner until filed or reassigned.",
))
deadlines.register(rules.deadline_kind(
    "accreditation_expiry", _expiry_reminder, _expiry_due,
    pending=lambda accreditation: accreditation.status == "approved",
    description="An accreditation's validity: no new offers or enrolments after it.",
))
