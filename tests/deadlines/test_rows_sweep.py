"""The §2.4 rows not exercised elsewhere, through the sweep in-process: the appeal
decision (reminder to the deciding staff, escalation to every staff member) and the
accreditation expiry (reminders to the person and staff, then lapse)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from auditors import services as auditor_services
from auditors.models import Accreditation
from certification.certificates import appeals
from certification.certificates import services as certificate_services
from certification.certificates.models import Appeal
from certification.releases import applications
from portal import deadlines
from portal.models import Deadline, Notification
from tests import factories as f
from tests.certification.certificate_helpers import decision_pending


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path, monkeypatch):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    # Reach the decision without audits and a review window (not what these tests are about).
    monkeypatch.setattr(applications, "GATE_PROVIDERS", [])
    monkeypatch.setattr(applications, "REVIEW_STARTED_HOOKS", [])


def _kinds(user):
    return list(Notification.objects.filter(user=user).values_list("kind", flat=True))


def test_appeal_decision_reminds_the_deciding_staff_then_escalates(framework, org, org_admin, staff):
    panel = [f.make_staff(mfa=True) for _ in range(2)]
    app = decision_pending(org, org_admin, staff)
    certificate_services.reject(app, staff, "Not reproducible.")
    appeal = appeals.file_appeal(app, org_admin, "We reran them.")
    deadline = Deadline.objects.for_object(appeal).get(kind="appeal_decision")
    Notification.objects.all().delete()
    deadlines.sweep(now=deadline.due_at - timedelta(days=8))
    assert not Notification.objects.exists()
    for _ in range(3):
        deadlines.sweep(now=deadline.due_at - timedelta(days=6))
    assert all(_kinds(p).count("appeal-reminder") == 1 for p in panel)
    assert "appeal-reminder" not in _kinds(staff)  # took part in the rejection
    deadlines.sweep(now=deadline.due_at + timedelta(minutes=1))
    deadlines.sweep(now=deadline.due_at + timedelta(minutes=2))
    assert all(_kinds(p).count("appeal-overdue") == 1 for p in [*panel, staff])
    assert Appeal.objects.get(pk=appeal.pk).status == Appeal.Status.OPEN


def test_accreditation_expiry_reminds_at_60_30_7_days_then_lapses(framework, staff):
    user = f.UserFactory()
    acc = Accreditation.objects.create(user=user, role="auditor", status=Accreditation.Status.PENDING,
                                       requested_tiers=[3], capacity=2)
    auditor_services.approve_accreditation(acc, staff, tiers=[3], domains=[], capacity=2)
    deadline = Deadline.objects.for_object(acc).get(kind="accreditation_expiry")
    for days, expected in ((61, 0), (59, 1), (45, 1), (29, 2), (6, 3)):
        deadlines.sweep(now=deadline.due_at - timedelta(days=days))
        assert _kinds(user).count("accreditation-expiry-reminder") == expected, days
        assert _kinds(staff).count("accreditation-expiry-reminder") == expected, days
    with time_machine.travel(deadline.due_at + timedelta(minutes=1), tick=False):
        deadlines.sweep()
    acc.refresh_from_db()
    assert acc.status == Accreditation.Status.LAPSED
    assert _kinds(user).count("accreditation-lapsed") == 1
    # Access and offers are decided from stored times anyway: not active once past.
    assert not Accreditation.objects.active(at=deadline.due_at + timedelta(minutes=1)).filter(pk=acc.pk).exists()
