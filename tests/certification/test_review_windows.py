"""Review windows (DESIGN §2.1, §6): opened at acceptance into review with the
framework's length, extended or reopened by a raise to Tier 4, listed for vetted
evaluators and staff only."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from certification.releases import applications
from certification.releases import services as release_services
from certification.releases.models import Application
from certification.review import services as review_services
from certification.review.models import ReviewWindow
from portal import deadlines
from portal.models import Deadline, Notification
from tests.certification.factories import submitted_application
from tests.certification.review_helpers import TIER4, enrolled, in_review, vetted_evaluator

S = Application.Status


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"


def test_tier3_window_opens_at_acceptance_for_30_days(framework, org, org_admin, staff):
    app = in_review(org, org_admin, staff)
    window = app.review_window
    assert window.tier == 3
    assert window.closes_at - window.opened_at == timedelta(days=30)
    assert window.first_opened_at == window.opened_at and window.is_open()
    deadline = Deadline.objects.for_object(window).get(kind="review_window")
    assert deadline.due_at == window.closes_at and deadline.state == Deadline.State.OPEN


def test_tier4_window_lasts_90_days(framework, org, org_admin, staff):
    app = in_review(org, org_admin, staff, facts=TIER4)
    assert app.review_window.closes_at - app.review_window.opened_at == timedelta(days=90)


def test_window_length_comes_from_the_framework_version(framework, org, org_admin, staff):
    rules = dict(framework.rules)
    rules["deadlines"] = [
        {**d, "length_days_by_tier": [{"tier": 3, "days": 45}, {"tier": 4, "days": 120}]}
        if d["kind"] == "review_window" else d for d in rules["deadlines"]]
    framework.rules = rules
    framework.save(update_fields=["rules"])
    app = in_review(org, org_admin, staff)
    assert app.review_window.closes_at - app.review_window.opened_at == timedelta(days=45)


def test_tier1_and_tier2_get_no_window(framework, org, org_admin, staff):
    app = submitted_application(org, org_admin)
    applications.start_screening(app, staff)
    applications.accept_into_review(app, staff)
    assert not ReviewWindow.objects.filter(application=app).exists()
    assert review_services.review_gates(app) == []


def test_raise_to_tier4_extends_an_open_window_to_90_days_from_its_opening(framework, org, org_admin, staff):
    app = in_review(org, org_admin, staff)
    window = app.review_window
    with time_machine.travel(window.opened_at + timedelta(days=10), tick=False):
        applications.raise_tier(app.release, staff, 4, "An auditor reported an emergent capability.")
    window.refresh_from_db()
    assert window.tier == 4
    assert window.closes_at == window.first_opened_at + timedelta(days=90)
    assert window.extended_at is not None and window.reopened_at is None
    # One open deadline, at the new closing time: the old one is cancelled.
    open_deadlines = Deadline.objects.for_object(window).filter(kind="review_window", state=Deadline.State.OPEN)
    assert [d.due_at for d in open_deadlines] == [window.closes_at]
    app.refresh_from_db()
    assert app.status == S.CHANGES_REQUESTED and app.tier == 4


def test_raise_reopens_a_closed_window_until_90_days_from_its_first_opening(framework, org, org_admin, staff):
    app = in_review(org, org_admin, staff)
    window = app.review_window
    first = window.first_opened_at
    evaluator = enrolled(window)
    with time_machine.travel(first + timedelta(days=40), tick=False):
        deadlines.sweep()
        window.refresh_from_db()
        assert window.closed_at is not None and not window.is_open()
        applications.raise_tier(app.release, staff, 4, "Biology uplift found by an auditor.")
        window.refresh_from_db()
        assert window.is_open() and window.reopened_at == timezone.now()
        assert window.closes_at == first + timedelta(days=90)
        assert window.first_opened_at == first and window.closed_at is None
        assert review_services.has_access(evaluator, window)
    assert Notification.objects.filter(user=evaluator, kind="window-extended").exists()


def test_reopened_window_stays_open_at_least_14_more_days(framework, org, org_admin, staff):
    app = in_review(org, org_admin, staff)
    window = app.review_window
    first = window.first_opened_at
    with time_machine.travel(first + timedelta(days=85), tick=False):
        applications.raise_tier(app.release, staff, 4, "Late discovery.")
        window.refresh_from_db()
        assert window.closes_at == timezone.now() + timedelta(days=14)


def test_reacceptance_after_a_raise_keeps_the_window(framework, org, org_admin, staff):
    app = in_review(org, org_admin, staff)
    window = app.review_window
    applications.raise_tier(app.release, staff, 4, "Emergent capability.")
    app.refresh_from_db()
    release_services.update_section(app.release, org_admin, "domain_risk_assessments", {"assessments": {}})
    applications.submit_application(app, org_admin, signer_name="A", signer_title="B", affirmed=[1, 2, 3, 4, 5, 6])
    applications.start_screening(app, staff)
    applications.accept_into_review(app, staff)
    assert ReviewWindow.objects.filter(application=app).count() == 1
    assert ReviewWindow.objects.get(application=app).pk == window.pk


# --- who sees the windows ---------------------------------------------------------------------


@pytest.fixture
def window(framework, org, org_admin, staff):
    return in_review(org, org_admin, staff).review_window


def test_open_window_list_is_404_for_the_public(client, window):
    assert client.get(reverse("certification:review-windows")).status_code == 404
    assert client.get(reverse("certification:review-window", args=[window.pk])).status_code == 404


def test_open_window_list_is_404_for_organization_members(client, window, other_member, org_member):
    for user in (other_member, org_member):
        client.force_login(user)
        assert client.get(reverse("certification:review-windows")).status_code == 404
        assert client.get(reverse("certification:review-window", args=[window.pk])).status_code == 404
        assert client.get(reverse("review-api:window-list")).status_code == 404


def test_open_window_list_names_the_model_for_evaluators_and_staff(client, window, staff):
    for user in (vetted_evaluator(), staff):
        client.force_login(user)
        response = client.get(reverse("certification:review-windows"))
        assert response.status_code == 200
        assert "Model M 1.0" in response.content.decode()
        api = client.get(reverse("review-api:window-list")).json()
        assert [w["id"] for w in api["results"]] == [window.pk]
        assert api["results"][0]["organization"] == "Acme AI" and api["results"][0]["tier"] == 3


def test_closed_windows_leave_the_list(client, window):
    client.force_login(vetted_evaluator())
    with time_machine.travel(window.closes_at + timedelta(seconds=1), tick=False):
        client.force_login(vetted_evaluator())
        assert "Model M" not in client.get(reverse("certification:review-windows")).content.decode()


def test_suspended_evaluator_no_longer_sees_the_list(client, window):
    user = vetted_evaluator()
    user.accreditations.update(status="suspended")
    client.force_login(user)
    assert client.get(reverse("certification:review-windows")).status_code == 404
