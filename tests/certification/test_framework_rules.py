"""Framework versions drive every rule: an application bound to a new version follows its
reminder offsets, window length, appeal window and requirements, while one bound to 2025.1
keeps the old ones, end to end through the deadline sweep (issue 11, §3)."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.utils import timezone

from certification.certificates import appeals
from certification.certificates import services as certificate_services
from certification.framework import rules, services, tiers
from certification.framework.models import FrameworkVersion
from certification.releases import applications, checklist, evidence
from certification.releases import services as release_services
from certification.releases.models import Application
from certification.review.models import ReviewWindow
from portal import deadlines
from portal.models import Deadline, ReminderClaim
from tests.certification.factories import make_release
from tests.certification.review_helpers import TIER3

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PRIVACY = {
    "id": "privacy_report", "kind": "documentation", "check": "report", "title": "Privacy evaluation report",
    "description": "A report of the evaluation of training-data leakage and memorization.", "tiers": [1, 2, 3, 4],
}
ALL_STATEMENTS = [1, 2, 3, 4, 5, 6]


def publish_2026_1(staff) -> FrameworkVersion:
    """Version 2026.1, drafted from 2025.1 by staff: other reminders before a change request
    lapses, a longer Tier 3 window, a longer appeal window and one more requirement."""
    fv = services.draft_framework_version(staff, "2026.1")
    new = copy.deepcopy(fv.rules)
    for entry in new["deadlines"]:
        if entry["kind"] == "changes_requested":
            entry["reminders"] = [{"days_before": 20, "recipients": ["org_admins"]},
                                  {"days_before": 3, "recipients": ["org_admins"]}]
        if entry["kind"] == "review_window":
            entry["length_days_by_tier"] = [{"tier": 3, "days": 45}, {"tier": 4, "days": 90}]
    new["certificates"] = {"appeal_window_days": 45}
    new["requirements"].insert(6, PRIVACY)
    services.update_framework_rules(fv, staff, new)
    return services.publish_framework_version(fv, staff, timezone.now())


def file(app, admin):
    applications.submit_application(app, admin, signer_name="Ada Admin", signer_title="CTO", affirmed=ALL_STATEMENTS)


def add_privacy_report(release, admin):
    release_services.update_section(release, admin, "privacy_report", {"summary": "No verbatim leakage found."})
    evidence.store(release, ContentFile(PDF, name="privacy.pdf"), admin, section="privacy_report")


@pytest.fixture
def two_versions(framework, staff, settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path
    return framework


def test_an_application_binds_to_the_version_in_force_and_gets_its_requirements(two_versions, org, org_admin, staff):
    old = applications.start_application(make_release(org, org_admin, version="old"), org_admin)
    new_version = publish_2026_1(staff)
    release = make_release(org, org_admin, version="new")
    new = applications.start_application(release, org_admin)
    assert (old.framework_version.version, new.framework_version.version) == ("2025.1", "2026.1")
    assert new_version.digest != two_versions.digest

    old_items = {i.id for i in applications.application_checklist(old)}
    new_items = {i.id: i for i in applications.application_checklist(new)}
    assert "privacy_report" not in old_items
    assert new_items["privacy_report"].status == checklist.NOT_STARTED
    assert "privacy_report" in tiers.section_ids(new.framework_version.rules)

    # The new requirement blocks the attestation until it is met, like any other.
    with pytest.raises(services.WorkflowError):
        file(new, org_admin)
    release_services.update_section(release, org_admin, "privacy_report", {"summary": "No verbatim leakage."})
    assert {i.id: i for i in applications.application_checklist(new)}["privacy_report"].problems == [
        "Upload the report as an evidence file."]
    evidence.store(release, ContentFile(PDF, name="privacy.pdf"), org_admin, section="privacy_report")
    file(new, org_admin)
    file(old, org_admin)  # 2025.1 never asked for it
    assert Application.objects.filter(status=Application.Status.SUBMITTED).count() == 2


def test_the_section_page_of_a_new_requirement_follows_its_kind(two_versions, org, org_admin, staff, client_for):
    older = make_release(org, org_admin, version="old")
    applications.start_application(older, org_admin)  # bound to 2025.1
    publish_2026_1(staff)
    release = make_release(org, org_admin, version="new")
    client = client_for(org_admin)
    page = client.get(f"/releases/{release.pk}/sections/privacy_report/")
    assert page.status_code == 200
    assert "Privacy evaluation report" in page.content.decode()
    response = client.post(f"/releases/{release.pk}/sections/privacy_report/", {"s-summary": "Audited for leakage."})
    assert response.status_code == 302
    release.documentation.refresh_from_db()
    assert release.documentation.section("privacy_report") == {"summary": "Audited for leakage."}
    # A release whose application is bound to 2025.1 has no such section, in the page and the API.
    assert client.get(f"/releases/{older.pk}/sections/privacy_report/").status_code == 404
    assert client.get(f"/api/v1/releases/{older.pk}/sections/privacy_report/").status_code == 404
    assert client.get(f"/api/v1/releases/{release.pk}/sections/privacy_report/").json() == {
        "data": {"summary": "Audited for leakage."}}


def test_a_version_with_a_requirement_of_an_unknown_kind_is_refused(two_versions, staff):
    fv = services.draft_framework_version(staff, "2026.1")
    bad = copy.deepcopy(fv.rules)
    bad["requirements"].append({**PRIVACY, "check": "telepathy"})
    with pytest.raises(services.WorkflowError, match="unknown kind"):
        services.update_framework_rules(fv, staff, bad)
    bad["requirements"][-1] = {**PRIVACY, "check": "fields", "fields": []}
    with pytest.raises(services.WorkflowError, match="lists its fields"):
        services.update_framework_rules(fv, staff, bad)


def test_change_request_reminders_follow_each_applications_version(two_versions, org, org_admin, staff):
    old = applications.start_application(make_release(org, org_admin, version="old"), org_admin)
    publish_2026_1(staff)
    release = make_release(org, org_admin, version="new")
    add_privacy_report(release, org_admin)
    new = applications.start_application(release, org_admin)
    start = timezone.now()
    for app in (old, new):
        file(app, org_admin)
        applications.start_screening(app, staff)
        applications.request_changes(app, staff, {"model_card": "More detail."})
    d_old = Deadline.objects.for_object(old).get(kind="changes_requested")
    d_new = Deadline.objects.for_object(new).get(kind="changes_requested")
    assert d_old.reminders == [30 * 86400, 7 * 86400] and d_new.reminders == [20 * 86400, 3 * 86400]

    def claims(d):
        return sorted(ReminderClaim.objects.filter(deadline=d).values_list("reminder", flat=True))

    deadlines.sweep(now=start + timedelta(days=31))  # T-29d
    assert (claims(d_old), claims(d_new)) == (["T-30d"], [])
    deadlines.sweep(now=start + timedelta(days=41))  # T-19d
    assert (claims(d_old), claims(d_new)) == (["T-30d"], ["T-20d"])
    deadlines.sweep(now=start + timedelta(days=58))  # T-2d: the latest reminder of each
    assert (claims(d_old), claims(d_new)) == (["T-30d", "T-7d"], ["T-20d", "T-3d"])
    deadlines.sweep(now=start + timedelta(days=61))  # both lapse at 60 days, as both versions say
    old.refresh_from_db()
    new.refresh_from_db()
    assert old.status == new.status == Application.Status.LAPSED


def test_a_tier3_window_lasts_as_long_as_its_version_says(two_versions, org, org_admin, staff):
    old = applications.start_application(make_release(org, org_admin, version="old", **TIER3), org_admin)
    publish_2026_1(staff)
    release = make_release(org, org_admin, version="new", **TIER3)
    add_privacy_report(release, org_admin)
    new = applications.start_application(release, org_admin)
    for app in (old, new):
        file(app, org_admin)
        applications.start_screening(app, staff)
        applications.accept_into_review(app, staff)
    w_old, w_new = ReviewWindow.objects.get(application=old), ReviewWindow.objects.get(application=new)
    assert (w_old.closes_at - w_old.opened_at, w_new.closes_at - w_new.opened_at) == (
        timedelta(days=30), timedelta(days=45))

    # Closing a window reads the clock (access is decided from stored times): travel with the sweep.
    with time_machine.travel(w_old.opened_at + timedelta(days=31), tick=False):
        deadlines.sweep()
    w_old.refresh_from_db()
    w_new.refresh_from_db()
    assert w_old.closed_at is not None and w_new.closed_at is None
    with time_machine.travel(w_new.opened_at + timedelta(days=46), tick=False):
        deadlines.sweep()
    w_new.refresh_from_db()
    assert w_new.closed_at is not None


def test_the_appeal_window_follows_the_applications_version(two_versions, org, org_admin, staff):
    old = applications.start_application(make_release(org, org_admin, version="old"), org_admin)
    publish_2026_1(staff)
    release = make_release(org, org_admin, version="new")
    add_privacy_report(release, org_admin)
    new = applications.start_application(release, org_admin)
    for app in (old, new):
        file(app, org_admin)
        applications.start_screening(app, staff)
        applications.accept_into_review(app, staff)
        applications.complete_review(app, staff)
        certificate_services.reject(app, staff, "The benchmark results could not be reproduced.")
        app.refresh_from_db()
    later = old.decided_at + timedelta(days=40)
    assert appeals.appeal_deadline(old) == old.decided_at + timedelta(days=30)
    assert appeals.appeal_deadline(new) == new.decided_at + timedelta(days=45)
    assert not appeals.can_appeal(old, at=later)
    assert appeals.can_appeal(new, at=later)


def test_rules_fall_back_to_2025_1_for_what_a_version_leaves_out(two_versions):
    empty = {"deadlines": []}
    assert rules.deadline_length(empty, "staff_decision") == timedelta(days=10)
    assert rules.reminder_offsets(empty, "certificate_expiry") == (
        timedelta(days=60), timedelta(days=30), timedelta(days=7))
    assert rules.repeat_every(empty, "audit_report") == timedelta(days=3)
    assert rules.setting(empty, "certificates", "renewal_after_months") == 6
    assert rules.deadline_days(two_versions.rules, "review_window", 4) == 90
