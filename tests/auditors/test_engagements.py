"""Engagements: the report deadline with reminders and repeated overdue notices,
the report template (drafts, filing, lock), conditions, the audit gate."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from auditors import reports as auditor_reports
from auditors.assignment import offers
from auditors.models import AuditReport, Engagement
from certification.framework.services import WorkflowError
from certification.releases.applications import open_gates
from certification.releases.models import Application
from portal import deadlines
from portal.models import AuditEntry, Notification
from tests.auditors.helpers import (
    REPORT,
    TIER4_BOTH,
    engage,
    file_report,
    in_review_application,
    make_accredited_auditor,
    pdf,
)


@pytest.fixture
def app(framework, org, org_admin, staff):
    return in_review_application(org, org_admin, staff)


@pytest.fixture
def engagement(app, staff):
    return engage(app, make_accredited_auditor(), staff)


def kinds(user) -> list[str]:
    return list(Notification.objects.filter(user=user).order_by("created_at", "id").values_list("kind", flat=True))


def test_tier3_report_is_due_30_days_after_acceptance_and_tier4_45(framework, org, org_admin, staff, engagement):
    assert (engagement.report_due_at - engagement.accepted_at).days == 30
    app4 = in_review_application(org, org_admin, staff, version="4.0", **TIER4_BOTH)
    both = make_accredited_auditor(domains=["biology", "cybersecurity"])
    e4 = engage(app4, both, staff)
    assert (e4.report_due_at - e4.accepted_at).days == 45


def test_report_reminders_then_overdue_notices_every_three_days_until_filed(engagement, staff, app):
    auditor = engagement.accreditation.user
    due = engagement.report_due_at
    for when in (due - timedelta(days=7), due - timedelta(days=2)):
        with time_machine.travel(when + timedelta(minutes=1), tick=False):
            deadlines.sweep()
    assert kinds(auditor).count("report-reminder") == 2
    # Overdue: at the due time, +3 days, +6 days, numbered 1, 2, 3; the owner gets them too.
    for n, days in enumerate((0, 3, 6), start=1):
        with time_machine.travel(due + timedelta(days=days, minutes=1), tick=False):
            deadlines.sweep()
            deadlines.sweep()  # a second sweep never repeats a notice
    overdue = Notification.objects.filter(user=auditor, kind="report-overdue").order_by("id")
    assert [("notice %d" % n) in o.subject for n, o in zip((1, 2, 3), overdue)] == [True, True, True]
    assert Notification.objects.filter(user=app.owner, kind="report-overdue").count() == 3
    assert list(AuditEntry.objects.filter(action="auditors.report.overdue_notice").values_list(
        "payload__number", flat=True).order_by("seq")) == [1, 2, 3]
    # Filing stops the notices.
    with time_machine.travel(due + timedelta(days=7), tick=False):
        file_report(engagement)
    with time_machine.travel(due + timedelta(days=12), tick=False):
        deadlines.sweep()
    assert Notification.objects.filter(user=auditor, kind="report-overdue").count() == 3


def test_a_late_sweep_sends_one_notice_not_a_burst(engagement):
    user = engagement.accreditation.user
    with time_machine.travel(engagement.report_due_at + timedelta(days=7), tick=False):
        deadlines.sweep()
        deadlines.sweep()
    assert Notification.objects.filter(kind="report-overdue", user=user).count() == 1
    # The next notice keeps its repeat number (the third repeat, 9 days after the due time).
    with time_machine.travel(engagement.report_due_at + timedelta(days=9, minutes=1), tick=False):
        deadlines.sweep()
    subjects = list(Notification.objects.filter(kind="report-overdue", user=user).values_list("subject", flat=True))
    assert len(subjects) == 2 and any("notice 4" in s for s in subjects)


def test_reassignment_stops_overdue_notices(engagement, staff):
    offers.reassign(engagement, staff, "Unresponsive.")
    with time_machine.travel(engagement.report_due_at + timedelta(days=4), tick=False):
        deadlines.sweep()
    assert not Notification.objects.filter(kind="report-overdue").exists()


def test_draft_then_file_locks_the_report(engagement):
    auditor = engagement.accreditation.user
    auditor_reports.save_report_draft(engagement, auditor, {"scope": "Draft scope"})
    assert AuditReport.objects.get(engagement=engagement).filed_at is None
    with pytest.raises(WorkflowError) as err:
        auditor_reports.file_report(engagement, auditor, {"recommendation": "pass"})
    assert {"methods", "signed_file"} <= set(err.value.errors)
    report = file_report(engagement, "pass")
    assert report.filed_at and len(report.sha256) == 64
    engagement.refresh_from_db()
    assert engagement.status == Engagement.Status.COMPLETED
    with pytest.raises(WorkflowError, match="not active|locked"):
        auditor_reports.save_report_draft(engagement, auditor, {"scope": "changed"})
    assert AuditReport.objects.get(engagement=engagement).scope == REPORT["scope"]


def test_signed_report_must_be_a_pdf(engagement):
    from django.core.files.uploadedfile import SimpleUploadedFile

    with pytest.raises(WorkflowError) as err:
        auditor_reports.file_report(engagement, engagement.accreditation.user, {**REPORT, "recommendation": "pass"},
                             signed_file=SimpleUploadedFile("report.txt", b"plain text"))
    assert "signed_file" in err.value.errors


def test_pass_with_conditions_needs_conditions(engagement):
    with pytest.raises(WorkflowError) as err:
        auditor_reports.file_report(engagement, engagement.accreditation.user,
                             {**REPORT, "recommendation": "pass_with_conditions"}, [], signed_file=pdf())
    assert "conditions" in err.value.errors


def test_gate_holds_until_reports_filed_and_conditions_resolved_and_accepted(app, engagement, org_admin, org_member):
    assert any("Audit reports filed: 0 of 1" in g for g in open_gates(app))
    report = file_report(engagement, "pass_with_conditions", ["Publish the jailbreak mitigations."])
    condition = report.conditions.get()
    assert any("not resolved" in g for g in auditor_reports.audit_gates(app))
    with pytest.raises(WorkflowError):
        auditor_reports.accept_condition(condition, engagement.accreditation.user)  # not resolved yet
    auditor_reports.resolve_condition(condition, org_member, "Published in the model card, section 4.")
    assert any("awaits the auditor" in g for g in auditor_reports.audit_gates(app))
    auditor_reports.return_condition(condition, engagement.accreditation.user, "Section 4 is empty.")
    assert any("not resolved" in g for g in auditor_reports.audit_gates(app))
    auditor_reports.resolve_condition(condition, org_admin, "Filled in section 4.")
    auditor_reports.accept_condition(condition, engagement.accreditation.user)
    assert auditor_reports.audit_gates(app) == []
    app.refresh_from_db()
    # The audit gate no longer blocks: the application moved on unless another gate still holds.
    assert app.status == Application.Status.DECISION_PENDING or not any(
        "udit" in g for g in open_gates(app))


def test_outsider_cannot_resolve_a_condition(engagement, other_member):
    report = file_report(engagement, "pass_with_conditions", ["Fix it."])
    with pytest.raises(WorkflowError):
        auditor_reports.resolve_condition(report.conditions.get(), other_member, "done")


def test_tier4_gate_needs_both_reports(framework, org, org_admin, staff):
    app = in_review_application(org, org_admin, staff, version="4.0", **TIER4_BOTH)
    bio = make_accredited_auditor(domains=["biology"])
    cyber = make_accredited_auditor(domains=["cybersecurity"])
    first, second = engage(app, bio, staff), engage(app, cyber, staff)
    file_report(first)
    assert "Audit reports filed: 1 of 2." in auditor_reports.audit_gates(app)
    file_report(second)
    assert auditor_reports.audit_gates(app) == []


def test_report_due_time_is_recorded_with_the_acceptance(engagement):
    assert engagement.offer.confidentiality_accepted_at is not None
    assert abs((engagement.accepted_at - timezone.now()).total_seconds()) < 60
