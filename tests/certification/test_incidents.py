"""Post-release incidents (issue 16 §2): a concern report is an incident the organization
acknowledges (a deadline with reminders and escalation to staff), investigates and resolves with a
public note, or that staff escalate to a suspension or dismiss; the reporter hears of every step;
the certificate page's public history (resolved, or 90 days after the acknowledgement); the API;
the transparency report's figures; the data migration of older reports."""

from __future__ import annotations

import datetime as dt
import importlib
import re
from datetime import timedelta

import pytest
import time_machine
from django.apps import apps as django_apps
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from certification.certificates import concerns, incidents
from certification.certificates import services as certificate_services
from certification.certificates.models import Certificate, ConcernReport
from certification.framework import rules
from certification.transparency import incidents as incident_figures
from certification.transparency import rollups
from certification.transparency import services as transparency_services
from portal import deadlines
from portal.models import AuditEntry, Deadline, Notification, OutboxEmail
from tests.certification.certificate_helpers import certify

I = ConcernReport.Status  # noqa: E741
UTC = dt.timezone.utc
REPORTER = "finder@research.example"


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"


@pytest.fixture
def cert(framework, org, org_admin, staff) -> Certificate:
    return certify(org, org_admin, staff)


@pytest.fixture
def incident(cert) -> ConcernReport:
    return concerns.report_concern(cert, summary="Reveals home addresses", details="Ask for Jane Doe's address.",
                                   reporter_email=REPORTER, severity="high")


def text(response) -> str:
    """The visible text of a page, tags removed, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def reporter_mail() -> list[str]:
    return list(OutboxEmail.objects.filter(to=REPORTER).order_by("pk").values_list("subject", flat=True))


def kinds_of(user) -> list[str]:
    return list(Notification.objects.filter(user=user).order_by("pk").values_list("kind", flat=True))


def ack_deadline(incident) -> Deadline:
    return Deadline.objects.for_object(incident).get(kind="incident_acknowledgement")


def logged(action: str) -> AuditEntry | None:
    return AuditEntry.objects.filter(action=action).order_by("-seq").first()


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api_post(client, url, body=None):
    return client.post(url, body or {}, content_type="application/json")


# --- the lifecycle in the browser --------------------------------------------------------------------------


def test_the_whole_lifecycle_through_the_pages(cert, org_admin, staff, client):
    page = client.post(f"/registry/{cert.number}/concern/", {
        "summary": "Reveals home addresses", "details": "Ask for Jane Doe's address.", "severity": "critical",
        "reporter_email": REPORTER})
    assert page.status_code == 302
    incident = ConcernReport.objects.get()
    assert (incident.status, incident.severity) == (I.RECEIVED, "critical")
    # The acknowledgement deadline: 5 days from the framework data.
    assert ack_deadline(incident).due_at == incident.created_at + timedelta(days=5)
    assert rules.deadline_days(cert.framework_version.rules, "incident_acknowledgement") == 5
    assert "incident-received" in kinds_of(org_admin) and "concern-reported" in kinds_of(staff)
    assert reporter_mail() == [f"Your report about {cert.release} was received"]

    admin = signed_in(org_admin)
    listing = text(admin.get("/incidents/"))
    assert "Reveals home addresses" in listing and "Acknowledge by" in listing and "Critical" in listing
    detail = admin.get(f"/incidents/{incident.pk}/")
    assert "Jane Doe" in text(detail) and "Acknowledge the incident" in text(detail)

    assert admin.post(f"/incidents/{incident.pk}/acknowledge/").status_code == 302
    incident.refresh_from_db()
    assert incident.status == I.ACKNOWLEDGED and incident.acknowledged_by == org_admin
    assert ack_deadline(incident).state == Deadline.State.DONE
    assert admin.post(f"/incidents/{incident.pk}/acknowledge/").status_code == 302  # refused: a message, no change
    assert admin.post(f"/incidents/{incident.pk}/investigate/").status_code == 302
    incident.refresh_from_db()
    assert incident.status == I.INVESTIGATING

    form = {"resolution": "fixed", "fixed_in": "", "note": "Addresses removed from the training set."}
    missing = admin.post(f"/incidents/{incident.pk}/resolve/", form)
    assert missing.status_code == 200 and "Name the release that fixes it." in text(missing)
    form["fixed_in"] = "1.1"
    confirm = admin.post(f"/incidents/{incident.pk}/resolve/", form)
    assert "appear on the public certificate page at once" in text(confirm)
    incident.refresh_from_db()
    assert incident.status == I.INVESTIGATING  # nothing happens before the confirmation
    assert admin.post(f"/incidents/{incident.pk}/resolve/", {**form, "confirmed": "1"}).status_code == 302
    incident.refresh_from_db()
    assert (incident.status, incident.resolution, incident.fixed_in) == (I.RESOLVED, "fixed", "1.1")
    assert incident.resolution_note == "Addresses removed from the training set."

    assert [logged(a) is not None for a in ("certification.incident.acknowledged", "certification.incident"
                                            ".investigating", "certification.incident.resolved")] == [True] * 3
    assert logged("certification.incident.resolved").payload == {"incident": incident.pk, "resolution": "fixed",
                                                                 "fixed_in": "1.1"}
    assert reporter_mail()[1:] == [
        f"The organization acknowledged your report about {cert.release}",
        f"Your report about {cert.release} is under investigation",
        f"Your report about {cert.release} is resolved"]
    resolved_mail = OutboxEmail.objects.filter(to=REPORTER).order_by("-pk").first()
    assert "Addresses removed from the training set." in resolved_mail.body_text
    assert "Fixed in release 1.1." in resolved_mail.body_text

    public = text(client.get(f"/registry/{cert.number}/"))
    history = public[public.index("Incident history"):public.index("Artifacts")]
    assert "Reveals home addresses" in history and "Addresses removed from the training set." in history
    assert "Fixed in a release (release 1.1)" in history and "Critical" not in history
    assert "Jane Doe" not in public and REPORTER not in public


def test_the_release_page_dashboard_and_staff_console_show_incidents(incident, org_admin, staff):
    admin = signed_in(org_admin)
    release_page = text(admin.get(f"/releases/{incident.certificate.release_id}/"))
    assert "Reveals home addresses" in release_page
    dashboard = text(admin.get("/dashboard/"))
    assert "Open incidents 1" in dashboard and "To acknowledge 1" in dashboard
    assert "Acknowledgement overdue 0" in dashboard
    with time_machine.travel(timezone.now() + timedelta(days=6)):
        console = text(signed_in(staff).get("/staff/"))
        assert "1 open: 1 waiting for acknowledgement, 1 overdue." in console
        staff_list = text(signed_in(staff).get("/staff/concerns/"))
        assert "Acknowledgement overdue since" in staff_list


def test_staff_rate_dismiss_and_escalate(cert, incident, staff, org_admin):
    staff_client = signed_in(staff)
    assert staff_client.post(f"/incidents/{incident.pk}/severity/", {"severity": "low"}).status_code == 302
    incident.refresh_from_db()
    assert incident.severity == "low"
    assert logged("certification.incident.severity_set").payload == {"incident": incident.pk, "from": "high",
                                                                     "to": "low"}
    # Escalation: the suspension from the incident marks it escalated and tells the reporter.
    certificate_services.suspend(cert, staff, "Leaks personal data", concern=incident)
    incident.refresh_from_db()
    assert incident.status == I.ESCALATED and incident.handled_by == staff
    assert ack_deadline(incident).state == Deadline.State.DONE
    assert reporter_mail()[-1] == f"Your report about {cert.release}: certificate suspended"
    # A dismissal: never public, the reporter is told, the deadline is cancelled.
    other = concerns.report_concern(cert, summary="Spam", details="Buy now", reporter_email=REPORTER)
    response = staff_client.post(f"/staff/concerns/{other.pk}/dismiss/", {"next": f"/incidents/{other.pk}/"})
    assert response.headers["Location"] == f"/incidents/{other.pk}/"
    other.refresh_from_db()
    assert other.status == I.DISMISSED and ack_deadline(other).state == Deadline.State.CANCELLED
    assert reporter_mail()[-1] == f"Your report about {cert.release} was closed by staff"


def test_a_signed_in_reporter_is_notified_in_the_portal(cert, evaluator, client):
    client.force_login(evaluator)
    client.post(f"/registry/{cert.number}/concern/", {"summary": "Jailbreak", "details": "Prompt."})
    incident = ConcernReport.objects.get()
    assert incident.reporter == evaluator and incident.severity == ""
    assert kinds_of(evaluator) == ["incident-reporter"]


# --- permissions -------------------------------------------------------------------------------------------


def test_other_org_gets_404_and_members_cannot_answer(incident, org_member, other_member, staff):
    outsider = signed_in(other_member)
    for url in (f"/incidents/{incident.pk}/", f"/incidents/{incident.pk}/resolve/"):
        assert outsider.get(url).status_code == 404, url
    assert outsider.post(f"/incidents/{incident.pk}/acknowledge/").status_code == 404
    assert "Reveals home addresses" not in text(outsider.get("/incidents/"))
    member = signed_in(org_member)
    assert member.get(f"/incidents/{incident.pk}/").status_code == 200
    assert member.post(f"/incidents/{incident.pk}/acknowledge/").status_code == 403
    assert member.get(f"/incidents/{incident.pk}/resolve/").status_code == 403
    # Staff read and rate, but only the organization answers.
    assert signed_in(staff).post(f"/incidents/{incident.pk}/acknowledge/").status_code == 403
    assert member.post(f"/incidents/{incident.pk}/severity/", {"severity": "low"}).status_code == 403
    incident.refresh_from_db()
    assert (incident.status, incident.severity) == (I.RECEIVED, "high")
    with pytest.raises(incidents.WorkflowError):
        incidents.acknowledge(incident, org_member)


# --- the deadline: reminders, then staff -------------------------------------------------------------------


def test_admins_are_reminded_and_staff_told_when_the_acknowledgement_is_late(incident, org_admin, staff):
    due = ack_deadline(incident).due_at
    deadlines.sweep()
    assert "incident-acknowledgement-reminder" not in kinds_of(org_admin)
    with time_machine.travel(due - timedelta(days=2) + timedelta(minutes=1), tick=False):
        deadlines.sweep()
        deadlines.sweep()  # never twice
    assert kinds_of(org_admin).count("incident-acknowledgement-reminder") == 1
    note = Notification.objects.filter(user=org_admin, kind="incident-acknowledgement-reminder").get()
    assert "within 2 days" in note.subject and "Reveals home addresses" in note.body
    with time_machine.travel(due - timedelta(days=1) + timedelta(minutes=1), tick=False):
        deadlines.sweep()
    assert kinds_of(org_admin).count("incident-acknowledgement-reminder") == 2
    assert "incident-acknowledgement-overdue" not in kinds_of(staff)
    with time_machine.travel(due + timedelta(minutes=1), tick=False):
        deadlines.sweep()
        deadlines.sweep()
    assert kinds_of(staff).count("incident-acknowledgement-overdue") == 1
    assert ack_deadline(incident).state == Deadline.State.PASSED


def test_an_acknowledged_incident_is_neither_reminded_nor_escalated(incident, org_admin, staff):
    due = ack_deadline(incident).due_at
    incidents.acknowledge(incident, org_admin)
    with time_machine.travel(due + timedelta(days=1), tick=False):
        deadlines.sweep()
    assert "incident-acknowledgement-reminder" not in kinds_of(org_admin)
    assert "incident-acknowledgement-overdue" not in kinds_of(staff)


def test_a_later_version_sets_the_length_and_the_public_delay(framework):
    later = {"deadlines": [{"kind": "incident_acknowledgement", "title": "Acknowledgement", "length_days": 3,
                            "reminders": [{"days_before": 1, "recipients": ["org_admins"]}]}],
             "incidents": {"public_history_days": 30}}
    assert rules.deadline_days(later, "incident_acknowledgement") == 3
    assert rules.reminder_offsets(later, "incident_acknowledgement") == (timedelta(days=1),)
    assert rules.setting(later, "incidents", "public_history_days") == 30
    assert rules.setting(framework.rules, "incidents", "public_history_days") == 90


# --- the public history -------------------------------------------------------------------------------------


def test_the_history_shows_an_incident_once_resolved(cert, incident, org_admin, client):
    assert incidents.public_history(cert) == []
    incidents.acknowledge(incident, org_admin)
    assert incidents.public_history(cert) == []
    incidents.resolve(incident, org_admin, "not_reproducible", "Could not reproduce with the published weights.")
    [shown] = incidents.public_history(cert)
    assert (shown.title, shown.status, shown.resolution) == ("Reveals home addresses", "resolved", "not_reproducible")
    page = text(client.get(f"/registry/{cert.number}/"))
    assert "Could not reproduce with the published weights." in page and "Jane Doe" not in page


def test_the_history_shows_an_acknowledged_incident_after_90_days(cert, incident, org_admin, client):
    incidents.acknowledge(incident, org_admin)
    incidents.start_investigation(incident, org_admin)
    at = incident.acknowledged_at
    with time_machine.travel(at + timedelta(days=89), tick=False):
        assert incidents.public_history(cert) == []
        assert "Reveals home addresses" not in text(client.get(f"/registry/{cert.number}/"))
    with time_machine.travel(at + timedelta(days=90, seconds=1), tick=False):
        [shown] = incidents.public_history(cert)
        assert shown.status == "investigating" and shown.resolution_note == "" and shown.resolved_at is None
        page = text(client.get(f"/registry/{cert.number}/"))
        assert "Reveals home addresses" in page and "Under investigation" in page and "Jane Doe" not in page


def test_unacknowledged_and_dismissed_incidents_stay_private(cert, incident, staff):
    other = concerns.report_concern(cert, summary="Spam", details="Buy now")
    concerns.dismiss_concern(other, staff)
    with time_machine.travel(timezone.now() + timedelta(days=400), tick=False):
        assert incidents.public_history(cert) == []


# --- the API ----------------------------------------------------------------------------------------------


def test_the_api_lists_and_answers_incidents(cert, incident, org_admin, org_member, other_member, staff, client):
    admin = signed_in(org_admin)
    listed = admin.get("/api/v1/incidents/").json()["results"]
    assert [(r["id"], r["status"], r["severity"], r["certificate"]) for r in listed] == [
        (incident.pk, "received", "high", cert.number)]
    assert listed[0]["acknowledge_by"] is not None and listed[0]["details"] == "Ask for Jane Doe's address."
    assert admin.get("/api/v1/incidents/", {"status": "open"}).json()["results"][0]["id"] == incident.pk
    assert admin.get("/api/v1/incidents/", {"status": "resolved"}).json()["results"] == []
    assert admin.get("/api/v1/incidents/", {"status": "closed"}).status_code == 400

    outsider = signed_in(other_member)
    assert outsider.get("/api/v1/incidents/").json()["results"] == []
    assert outsider.get(f"/api/v1/incidents/{incident.pk}/").status_code == 404
    assert api_post(outsider, f"/api/v1/incidents/{incident.pk}/acknowledge/").status_code == 404
    assert api_post(signed_in(org_member), f"/api/v1/incidents/{incident.pk}/acknowledge/").status_code == 403
    assert client.get("/api/v1/incidents/").status_code == 401

    acked = api_post(admin, f"/api/v1/incidents/{incident.pk}/acknowledge/")
    assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"
    assert acked.json()["acknowledge_by"] is None
    again = api_post(admin, f"/api/v1/incidents/{incident.pk}/acknowledge/")
    assert again.status_code == 400
    assert api_post(admin, f"/api/v1/incidents/{incident.pk}/investigate/").json()["status"] == "investigating"
    bad = api_post(admin, f"/api/v1/incidents/{incident.pk}/resolve/", {"resolution": "mitigated", "note": " "})
    assert bad.status_code == 400 and "note" in bad.json()
    done = api_post(admin, f"/api/v1/incidents/{incident.pk}/resolve/",
                    {"resolution": "mitigated", "note": "Filter added in front of the model."})
    assert done.status_code == 200 and done.json()["resolution"] == "mitigated"
    assert done.json()["resolution_note"] == "Filter added in front of the model."

    assert api_post(admin, f"/api/v1/incidents/{incident.pk}/severity/", {"severity": "low"}).status_code == 403
    rated = api_post(signed_in(staff), f"/api/v1/incidents/{incident.pk}/severity/", {"severity": "medium"})
    assert rated.status_code == 200 and rated.json()["severity"] == "medium"

    public = client.get(f"/api/v1/certificates/{cert.number}/incidents/").json()
    assert public == [{"title": "Reveals home addresses", "status": "resolved", "reported_at": public[0]["reported_at"],
                       "acknowledged_at": public[0]["acknowledged_at"], "resolved_at": public[0]["resolved_at"],
                       "resolution": "mitigated", "fixed_in": None,
                       "resolution_note": "Filter added in front of the model."}]
    assert client.get("/api/v1/certificates/RRC-0000-NOPE/incidents/").status_code == 404
    staff_api = signed_in(staff).get("/api/v1/staff/concerns/", {"status": "resolved"}).json()["results"]
    assert [(r["id"], r["severity"]) for r in staff_api] == [(incident.pk, "medium")]


def test_the_concern_api_takes_a_severity(cert, client):
    url = f"/api/v1/certificates/{cert.number}/concerns/"
    bad = api_post(client, url, {"summary": "s", "details": "d", "severity": "urgent"})
    assert bad.status_code == 400 and "severity" in bad.json()
    assert api_post(client, url, {"summary": "s", "details": "d", "severity": "low"}).status_code == 201
    assert ConcernReport.objects.get().severity == "low"


# --- query budgets ---------------------------------------------------------------------------------------


def _count(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def _more_incidents(cert, n: int) -> None:
    now = timezone.now()
    rows = ConcernReport.objects.bulk_create([ConcernReport(certificate=cert, summary=f"Incident {i}", details="d",
                                                            created_at=now) for i in range(n)])
    for row in rows:
        incidents.open_acknowledgement(row)


def test_incident_lists_run_the_same_queries_for_2_and_40_incidents(cert, incident, org_admin, staff):
    admin, staff_client = signed_in(org_admin), signed_in(staff)
    _more_incidents(cert, 1)
    admin.get("/incidents/")
    staff_client.get("/staff/concerns/")
    few = (_count(admin, "/incidents/"), _count(staff_client, "/staff/concerns/"))
    _more_incidents(cert, 38)
    assert (_count(admin, "/incidents/"), _count(staff_client, "/staff/concerns/")) == few
    # /incidents/: session, user, staff? and auditor? (MFA middleware), the incidents with certificate,
    # release, model and organization, their acknowledgement deadlines, the unread count (navigation).
    assert few[0] == 7
    # /staff/concerns/: session, user, staff?, TOTP?, the incidents, the overdue ones, their deadlines, unread count.
    assert few[1] == 8


# --- the transparency report -------------------------------------------------------------------------------


def test_the_report_counts_incidents_by_severity_with_median_times(cert, org_admin, staff):
    def reported(severity, day, ack_after=None, resolve_after=None):
        with time_machine.travel(dt.datetime(2025, 3, day, tzinfo=UTC), tick=False):
            incident = concerns.report_concern(cert, summary="s", details="d", severity=severity)
        if ack_after is not None:
            with time_machine.travel(incident.created_at + timedelta(days=ack_after), tick=False):
                incidents.acknowledge(incident, org_admin)
        if resolve_after is not None:
            with time_machine.travel(incident.created_at + timedelta(days=resolve_after), tick=False):
                incidents.resolve(incident, org_admin, "mitigated", "Fixed.")
        return incident

    reported("high", 1, ack_after=1, resolve_after=10)
    reported("high", 2, ack_after=3, resolve_after=20)
    reported("low", 3, ack_after=2)
    spam = reported("", 4)
    with time_machine.travel(dt.datetime(2025, 3, 5, tzinfo=UTC), tick=False):
        concerns.dismiss_concern(spam, staff)
    rollups.refresh_rollups(as_of=dt.datetime(2026, 1, 2, tzinfo=UTC))
    table = transparency_services.build_draft(2025)["tables"]["incidents"]
    rows = {r["severity"]: r for r in table["rows"]}
    assert table["columns"] == incident_figures.COLUMNS
    assert [r["severity"] for r in table["rows"]] == ["all", "critical", "high", "medium", "low", "not_rated"]
    assert rows["all"] == {"severity": "all", "received": 4, "acknowledged": 3, "median_days_to_acknowledge": 2.0,
                           "resolved": 2, "median_days_to_resolve": 15.0, "escalated": 0, "dismissed": 1}
    assert (rows["high"]["received"], rows["high"]["median_days_to_acknowledge"],
            rows["high"]["median_days_to_resolve"]) == (2, 2.0, 15.0)
    assert rows["low"]["resolved"] == 0 and rows["low"]["median_days_to_resolve"] is None
    assert rows["not_rated"]["dismissed"] == 1 and rows["critical"]["received"] == 0
    assert "incidents" in transparency_services.TABLE_NAMES


# --- the migration of older reports ------------------------------------------------------------------------


def test_the_migration_maps_the_old_statuses_and_opens_the_deadline(cert):
    old = [concerns.report_concern(cert, summary=f"old {i}", details="d") for i in range(3)]
    Deadline.objects.filter(kind="incident_acknowledgement").delete()
    for row, status in zip(old, ("open", "actioned", "dismissed"), strict=True):
        ConcernReport.objects.filter(pk=row.pk).update(status=status)
    migration = importlib.import_module("certification.migrations.0010_incidents")
    migration.to_incidents(django_apps, None)
    statuses = [ConcernReport.objects.get(pk=row.pk).status for row in old]
    assert statuses == ["received", "escalated", "dismissed"]
    deadline = Deadline.objects.get(kind="incident_acknowledgement")
    assert deadline.object_id == old[0].pk and deadline.due_at > timezone.now() + timedelta(days=4)
    migration.to_concerns(django_apps, None)
    assert [ConcernReport.objects.get(pk=row.pk).status for row in old] == ["open", "actioned", "dismissed"]
