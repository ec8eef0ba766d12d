"""Staff forms of the workflow: reject, hand over, raise the tier, request changes."""

from __future__ import annotations

import pytest
from django.urls import reverse

from certification.releases import applications
from certification.releases.models import Application
from tests import factories as f
from tests.certification.factories import submitted_application

S = Application.Status


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"


def _decision_pending(org, admin, staff):
    app = submitted_application(org, admin)
    applications.start_screening(app, staff)
    applications.accept_into_review(app, staff)
    applications.complete_review(app, staff)
    return app


def test_reject_page_needs_reasons_then_rejects(framework, client, org, org_admin, staff):
    app = _decision_pending(org, org_admin, staff)
    client.force_login(staff)
    f.mark_reauthenticated(client, staff)
    url = reverse("certification:application-reject", args=[app.pk])
    response = client.post(url, {"reject-reasons": ""})
    assert response.status_code == 200 and b"There is a problem" in response.content
    app.refresh_from_db()
    assert app.status == S.DECISION_PENDING
    response = client.post(url, {"reject-reasons": "Not reproducible."})
    assert response.status_code == 200 and b"What happens when you confirm" in response.content
    app.refresh_from_db()
    assert app.status == S.DECISION_PENDING
    response = client.post(url, {"reject-reasons": "Not reproducible.", "confirmed": "1"})
    assert response.status_code == 302
    app.refresh_from_db()
    assert app.status == S.REJECTED


def test_hand_over_page_moves_the_owner(framework, client, org, org_admin, staff):
    app = submitted_application(org, org_admin)
    applications.start_screening(app, staff)
    colleague = f.make_staff(mfa=True)
    client.force_login(staff)
    response = client.post(reverse("certification:application-hand-over", args=[app.pk]), {"owner": colleague.pk})
    assert response.status_code == 302
    app.refresh_from_db()
    assert app.owner == colleague


def test_raise_tier_page_refuses_a_lower_tier_naming_the_field(framework, client, org, org_admin, staff):
    app = submitted_application(org, org_admin)
    applications.start_screening(app, staff)
    client.force_login(staff)
    url = reverse("certification:raise-tier", args=[app.release.pk])
    response = client.post(url, {"tier": "3", "reason": ""})
    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    response = client.post(url, {"tier": "3", "reason": "Code generation seen in the audit."})
    assert response.status_code == 302
    app.refresh_from_db()
    assert app.status == S.CHANGES_REQUESTED and app.tier == 3


def test_request_changes_page_needs_one_comment(framework, client, org, org_admin, staff):
    app = submitted_application(org, org_admin)
    applications.start_screening(app, staff)
    client.force_login(staff)
    url = reverse("certification:application-request-changes", args=[app.pk])
    response = client.post(url, {})
    assert response.status_code == 200
    app.refresh_from_db()
    assert app.status == S.SCREENING
    response = client.post(url, {"model_card": "Be specific about limitations."})
    assert response.status_code == 302
    app.refresh_from_db()
    assert app.status == S.CHANGES_REQUESTED
