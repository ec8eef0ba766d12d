"""Deadline kinds of the auditor network (DESIGN §2.4), registered with the
shared engine in ``portal.deadlines``: offer acceptance, audit report (with
overdue notices repeated every 3 days), accreditation expiry. Reminder
offsets come from the framework data; lengths from each application's version."""

from __future__ import annotations

from datetime import timedelta

from django.urls import reverse

from certification.framework_data import FRAMEWORK_2025_1
from portal import deadlines
from portal.notifications import notify


def _entry(kind: str) -> dict:
    return next(d for d in FRAMEWORK_2025_1["deadlines"] if d["kind"] == kind)


def offsets(kind: str) -> tuple[timedelta, ...]:
    return tuple(timedelta(days=r["days_before"]) for r in _entry(kind).get("reminders", []))


def _offer_reminder(deadline, offer, offset) -> None:
    from .services import offer_reminder

    offer_reminder(offer, offset)


def _offer_due(deadline, offer) -> None:
    from .services import expire_offer

    expire_offer(offer)


def _report_reminder(deadline, engagement, offset) -> None:
    from .services import report_reminder

    report_reminder(engagement, offset)


def _report_due(deadline, engagement) -> None:
    from .services import report_overdue

    report_overdue(engagement, 1)


def _report_overdue(deadline, engagement, repeat: int) -> None:
    from .services import report_overdue

    # Repeat 1 is three days after the due time: the second notice.
    report_overdue(engagement, repeat + 1)


def _expiry_reminder(deadline, accreditation, offset) -> None:
    from certification.services import staff_users

    from .models import Accreditation

    if accreditation.status != Accreditation.Status.APPROVED:
        return
    notify([accreditation.user, *staff_users()], "accreditation-expiry-reminder",
           {"accreditation": accreditation, "days_left": offset.days, "due_at": deadline.due_at},
           url=reverse("auditors:my-network"))


def _expiry_due(deadline, accreditation) -> None:
    from .services import lapse_accreditation

    lapse_accreditation(accreditation)


deadlines.register(deadlines.DeadlineKind(
    "offer_acceptance", offsets("offer_acceptance"), _offer_reminder, _offer_due,
    description="An auditor's offer: accepted or declined in time, or it expires and passes to the next auditor.",
))
deadlines.register(deadlines.DeadlineKind(
    "audit_report", offsets("audit_report"), _report_reminder, _report_due,
    repeat_every=timedelta(days=_entry("audit_report").get("repeat_every_days", 3)),
    on_overdue=_report_overdue,
    description="The audit report: overdue notices to the auditor and the owner until filed or reassigned.",
))
deadlines.register(deadlines.DeadlineKind(
    "accreditation_expiry", offsets("accreditation_expiry"), _expiry_reminder, _expiry_due,
    description="An accreditation's validity: no new offers or enrolments after it.",
))
