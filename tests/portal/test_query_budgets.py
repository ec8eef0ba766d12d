"""Query budgets of the portal's lists (STYLE §11): the count does not grow with the rows."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from portal import audit
from portal.models import Membership, Notification
from tests import factories as f


def count(client, url: str) -> int:
    client.get(url)  # warm caches (content types, session)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_notification_list_is_flat(client, org_admin):
    client.force_login(org_admin)
    url = reverse("portal:notifications")
    Notification.objects.bulk_create(Notification(user=org_admin, kind="test", subject=f"n{i}", body="b")
                                     for i in range(5))
    few = count(client, url)
    Notification.objects.bulk_create(Notification(user=org_admin, kind="test", subject=f"m{i}", body="b")
                                     for i in range(200))
    assert count(client, url) == few


def test_staff_audit_log_is_flat(client, staff, org, org_admin):
    client.force_login(staff)
    url = reverse("portal:audit-log")
    for i in range(5):
        audit.log("portal.test.entry", actor=org_admin, obj=org, organization=org, payload={"i": i})
    few = count(client, url)
    for i in range(120):
        audit.log("portal.test.entry", actor=staff if i % 2 else org_admin, obj=org, organization=org,
                  payload={"i": i})
    assert count(client, url) == few


def test_members_page_is_flat(client, org, org_admin):
    client.force_login(org_admin)
    url = reverse("portal:organization-members", args=[org.slug])
    for _ in range(3):
        f.MembershipFactory(organization=org)
    few = count(client, url)
    for _ in range(60):
        f.MembershipFactory(organization=org, role=Membership.Role.MEMBER)
    assert count(client, url) == few
