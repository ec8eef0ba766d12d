"""Query budgets of the auditor network's lists: the count does not grow with the rows."""

from __future__ import annotations

from django.urls import reverse

from tests.auditors.helpers import engage, in_review_application, make_accredited_auditor
from tests.portal.test_query_budgets import count


def _grow(n: int) -> None:
    for _ in range(n):
        make_accredited_auditor(domains=("biology",))


def test_directory_and_staff_accreditations_are_flat(client, framework, staff):
    _grow(3)
    directory = reverse("auditors:directory")
    few_public = count(client, directory)
    client.force_login(staff)
    accreditations = reverse("auditors:staff-accreditations")
    few_staff = count(client, accreditations)
    _grow(40)
    assert count(client, accreditations) == few_staff
    client.logout()
    assert count(client, directory) == few_public


def test_staff_assignments_and_the_auditors_dashboard_are_flat(client, framework, org, org_admin, staff):
    acc = make_accredited_auditor(capacity=50, mfa=True)
    apps = [in_review_application(org, org_admin, staff, version=f"1.{i}") for i in range(2)]
    for app in apps:
        engage(app, acc, staff)
    client.force_login(staff)
    assignments = reverse("auditors:staff-assignments")
    few_staff = count(client, assignments)
    client.force_login(acc.user)
    mine = reverse("auditors:my-network")
    few_mine = count(client, mine)
    for i in range(2, 10):
        engage(in_review_application(org, org_admin, staff, version=f"1.{i}"), acc, staff)
    assert count(client, mine) == few_mine
    client.force_login(staff)
    assert count(client, assignments) == few_staff

