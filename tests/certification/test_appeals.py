"""Appeals against rejections (DESIGN §4): once, within 30 days, decided by staff
who took no part in the rejection (two of them for Tier 3/4)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from certification.certificates import appeals
from certification.certificates import services as certificate_services
from certification.certificates.models import Appeal, Certificate
from certification.framework import services as framework_services
from certification.releases import applications as release_applications
from certification.releases.models import Application
from portal import deadlines
from portal.models import Deadline, Notification
from tests import factories as f
from tests.certification.certificate_helpers import TIER3_FACTS, decision_pending

S = Application.Status


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path, monkeypatch):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    monkeypatch.setattr(release_applications, "GATE_PROVIDERS", [])
    monkeypatch.setattr(release_applications, "REVIEW_STARTED_HOOKS", [])


@pytest.fixture
def panel(db):
    return [f.make_staff(), f.make_staff()]


def rejected(org, admin, staff, **kw) -> Application:
    app = decision_pending(org, admin, staff, **kw)
    certificate_services.reject(app, staff, "The benchmark results are not reproducible.")
    app.refresh_from_db()
    return app


def test_org_admin_appeals_once_within_30_days(framework, org, org_admin, staff, panel):
    app = rejected(org, org_admin, staff)
    appeal = appeals.file_appeal(app, org_admin, "We reran them; logs attached.")
    app.refresh_from_db()
    assert app.status == S.APPEALED and appeal.status == Appeal.Status.OPEN
    deadline = Deadline.objects.for_object(appeal).get(kind="appeal_decision")
    assert deadline.due_at == appeal.filed_at + timedelta(days=30)
    # The deciding staff are told; the staff member who rejected is not.
    assert set(Notification.objects.filter(kind="appeal-filed").values_list("user", flat=True)) == {
        p.pk for p in panel}
    appeals.decide_appeal(appeal, panel[0], "deny", "Still not reproducible.")
    app.refresh_from_db()
    assert app.status == S.REJECTED
    with pytest.raises(framework_services.WorkflowError) as err:
        appeals.file_appeal(app, org_admin, "Again")
    assert "once" in str(err.value)


def test_appeal_after_30_days_is_refused(framework, org, org_admin, staff):
    app = rejected(org, org_admin, staff)
    with time_machine.travel(app.decided_at + timedelta(days=30, minutes=1), tick=False):
        with pytest.raises(framework_services.WorkflowError) as err:
            appeals.file_appeal(app, org_admin, "Late")
    assert "30 days" in str(err.value)


def test_members_cannot_appeal(framework, org, org_admin, org_member, staff):
    app = rejected(org, org_admin, staff)
    with pytest.raises(framework_services.WorkflowError):
        appeals.file_appeal(app, org_member, "Please")


def test_appeal_needs_grounds(framework, org, org_admin, staff):
    app = rejected(org, org_admin, staff)
    with pytest.raises(framework_services.WorkflowError) as err:
        appeals.file_appeal(app, org_admin, "  ")
    assert "grounds" in err.value.errors


def test_staff_who_took_part_in_the_rejection_cannot_decide(framework, org, org_admin, staff, panel):
    app = rejected(org, org_admin, staff)
    appeal = appeals.file_appeal(app, org_admin, "Grounds")
    with pytest.raises(framework_services.WorkflowError) as err:
        appeals.decide_appeal(appeal, staff, "grant", "I changed my mind")
    assert "took part" in str(err.value)
    assert not appeal.votes.exists()


def test_staff_who_approved_before_the_rejection_also_took_part(framework, org, org_admin, staff, panel):
    app = decision_pending(org, org_admin, staff, **TIER3_FACTS)
    certificate_services.approve(app, panel[0])
    certificate_services.reject(app, staff, "Audit findings unresolved.")
    appeal = appeals.file_appeal(app, org_admin, "Resolved now")
    with pytest.raises(framework_services.WorkflowError):
        appeals.decide_appeal(appeal, panel[0], "grant", "ok")


def test_granted_appeal_certifies_tier1_with_one_uninvolved_staff(framework, org, org_admin, staff, panel):
    app = rejected(org, org_admin, staff)
    appeal = appeals.file_appeal(app, org_admin, "Grounds")
    appeals.decide_appeal(appeal, panel[0], "grant", "The logs reproduce the results.")
    app.refresh_from_db()
    appeal.refresh_from_db()
    assert appeal.status == Appeal.Status.GRANTED and app.status == S.CERTIFIED
    cert = Certificate.objects.get(application=app)
    assert cert.attestation and cert.effective_status() == "valid"
    assert not Deadline.objects.for_object(appeal).filter(state=Deadline.State.OPEN).exists()
    assert Notification.objects.filter(user=org_admin, kind="appeal-decided").exists()


def test_tier3_appeal_needs_two_different_uninvolved_staff(framework, org, org_admin, staff, panel):
    app = rejected(org, org_admin, staff, **TIER3_FACTS)
    appeal = appeals.file_appeal(app, org_admin, "Grounds")
    appeals.decide_appeal(appeal, panel[0], "grant", "Convincing")
    app.refresh_from_db()
    assert app.status == S.APPEALED
    with pytest.raises(framework_services.WorkflowError):
        appeals.decide_appeal(appeal, panel[0], "grant", "Twice")
    appeals.decide_appeal(appeal, panel[1], "grant", "Agreed")
    app.refresh_from_db()
    assert app.status == S.CERTIFIED and Certificate.objects.get(application=app).tier == 3


def test_appeal_deadline_reminds_deciders_and_escalates_to_all_staff(framework, org, org_admin, staff, panel):
    app = rejected(org, org_admin, staff)
    appeal = appeals.file_appeal(app, org_admin, "Grounds")
    due = appeal.filed_at + timedelta(days=30)
    deadlines.sweep(now=due - timedelta(days=6))
    reminded = set(Notification.objects.filter(kind="appeal-reminder").values_list("user", flat=True))
    assert reminded == {p.pk for p in panel}
    deadlines.sweep(now=due + timedelta(minutes=1))
    escalated = set(Notification.objects.filter(kind="appeal-overdue").values_list("user", flat=True))
    assert escalated == {staff.pk, *(p.pk for p in panel)}


def test_appeal_pages(framework, org, org_admin, staff, panel, client, other_member):
    app = rejected(org, org_admin, staff)
    client.force_login(other_member)
    assert client.get(f"/applications/{app.pk}/appeal/").status_code == 404
    client.force_login(org_admin)
    assert b"Appeal the rejection" in client.get(f"/applications/{app.pk}/").content
    r = client.post(f"/applications/{app.pk}/appeal/", {"grounds": "New evidence"})
    assert r.status_code == 302
    appeal = Appeal.objects.get(application=app)
    client.force_login(staff)
    f.mark_reauthenticated(client, staff)
    page = client.get(f"/staff/appeals/{appeal.pk}/").content.decode()
    assert "you cannot decide this appeal" in page
    client.force_login(panel[0])
    f.mark_reauthenticated(client, panel[0])
    assert client.get("/staff/appeals/").status_code == 200
    confirm = client.post(f"/staff/appeals/{appeal.pk}/", {"outcome": "deny", "reasons": "Not enough"})
    assert b"the rejection becomes final" in confirm.content
    client.post(f"/staff/appeals/{appeal.pk}/", {"outcome": "deny", "reasons": "Not enough", "confirmed": "1"})
    app.refresh_from_db()
    assert app.status == S.REJECTED


def test_appeal_through_the_api(framework, org, org_admin, staff, panel, client):
    app = rejected(org, org_admin, staff, **TIER3_FACTS)
    client.force_login(org_admin)
    r = client.post(f"/api/v1/applications/{app.pk}/appeal/", {"grounds": "x"}, content_type="application/json")
    assert r.status_code == 201 and r.json()["application_status"] == "appealed"
    appeal_id = r.json()["id"]
    assert client.post(f"/api/v1/appeals/{appeal_id}/decide/", {"outcome": "grant", "reasons": "r"},
                       content_type="application/json").status_code == 403
    client.force_login(staff)
    r = client.post(f"/api/v1/appeals/{appeal_id}/decide/", {"outcome": "grant", "reasons": "r"},
                    content_type="application/json")
    assert r.status_code == 400  # took part in the rejection
    for person in panel:
        client.force_login(person)
        r = client.post(f"/api/v1/appeals/{appeal_id}/decide/", {"outcome": "grant", "reasons": "r"},
                        content_type="application/json")
        assert r.status_code == 200
    assert r.json() | {"id": 0, "application": 0} == {
        "id": 0, "application": 0, "status": "granted", "application_status": "certified", "votes": 2}
