"""Decision gates of the community review (DESIGN §4): the window closed, no finding
awaiting triage, every accepted finding answered. Each one alone keeps the
application in review; the last event moves it to decision_pending by itself."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse

from certification.releases.models import Application
from certification.review import findings as review_findings
from certification.review import services
from certification.review.models import Finding
from portal import deadlines
from portal.models import Deadline
from tests.certification.review_helpers import enrolled, filed, in_review, only_review_gates  # noqa: F401 - fixture

S = Application.Status
F = Finding.Status

pytestmark = pytest.mark.usefixtures("only_review_gates")


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"


@pytest.fixture
def app(framework, org, org_admin, staff):
    return in_review(org, org_admin, staff)


def _status(app) -> str:
    app.refresh_from_db()
    return app.status


def _close(window):
    """Travel past the close and run the sweep in-process."""
    traveller = time_machine.travel(window.closes_at + timedelta(minutes=1), tick=False)
    traveller.start()
    deadlines.sweep()
    return traveller


def test_open_window_alone_blocks_the_decision(app):
    window = app.review_window
    gates = services.review_gates(app)
    assert len(gates) == 1 and "window is open until" in gates[0]
    services.advance(app)
    assert _status(app) == S.IN_REVIEW
    traveller = _close(window)
    try:
        assert _status(app) == S.DECISION_PENDING
        assert Deadline.objects.for_object(app).filter(kind="staff_decision", state="open").exists()
    finally:
        traveller.stop()


def test_finding_submitted_on_the_last_day_blocks_until_triaged(app, staff):
    window = app.review_window
    author = enrolled(window)
    with time_machine.travel(window.closes_at - timedelta(hours=2), tick=False):
        finding = filed(window, author)
    traveller = _close(window)
    try:
        assert _status(app) == S.IN_REVIEW
        assert services.review_gates(app) == ["1 community finding awaits triage by staff."]
        review_findings.triage(finding, staff, F.INVALID, "Expected behaviour per the documented policy.")
        assert _status(app) == S.DECISION_PENDING
    finally:
        traveller.stop()


def test_accepted_finding_without_response_blocks_until_answered(app, staff, org_admin):
    window = app.review_window
    finding = filed(window, enrolled(window))
    review_findings.triage(finding, staff, F.ACCEPTED, "Reproduced.")
    traveller = _close(window)
    try:
        assert _status(app) == S.IN_REVIEW
        assert services.review_gates(app) == ["1 accepted finding has no response from the organization yet."]
        review_findings.respond(Finding.objects.get(pk=finding.pk), org_admin, "accepted_risk",
                                "Low exposure; monitored.")
        assert _status(app) == S.DECISION_PENDING
    finally:
        traveller.stop()


def test_triage_while_the_window_is_open_does_not_advance(app, staff, org_admin):
    window = app.review_window
    finding = filed(window, enrolled(window))
    review_findings.triage(finding, staff, F.ACCEPTED)
    review_findings.respond(Finding.objects.get(pk=finding.pk), org_admin, "disputed", "Intended behaviour.")
    assert _status(app) == S.IN_REVIEW
    assert len(services.review_gates(app)) == 1


def test_the_window_gate_is_decided_from_the_stored_time_without_the_sweep(app):
    with time_machine.travel(app.review_window.closes_at, tick=False):
        assert services.review_gates(app) == []


def test_release_and_application_pages_show_each_open_gate(client, app, staff, org_member):
    window = app.review_window
    filed(window, enrolled(window))
    client.force_login(org_member)
    page = client.get(reverse("certification:release-detail", args=[app.release.pk])).content.decode()
    assert "community review window is open until" in page
    assert "1 community finding awaits triage by staff." in page
    page = client.get(reverse("certification:application-findings", args=[app.pk])).content.decode()
    assert "1 community finding awaits triage by staff." in page
