"""Immediate or daily-digest email, per user and per kind (DESIGN §2.4)."""

from __future__ import annotations

import pytest
from django.core import mail

from portal import digests, tasks
from portal.models import DigestItem, Notification, NotificationPreference, OutboxEmail
from portal.notifications import notify
from tests import factories as f

pytestmark = pytest.mark.django_db
KIND = "changes-requested-reminder"


@pytest.fixture
def queued(monkeypatch):
    messages: list[list[int]] = []
    monkeypatch.setattr(tasks.deliver_outbox, "delay", lambda ids: messages.append(list(ids)))
    return messages


def prefer_digest(user, kind: str = "member-joined") -> None:
    NotificationPreference.objects.create(user=user, kind=kind, delivery=NotificationPreference.Delivery.DIGEST)


def test_a_digest_kind_gets_the_in_app_notification_but_no_immediate_email(org_member, org_admin, queued):
    prefer_digest(org_member)
    notify([org_member, org_admin], "member-joined", {"organization": org_member.memberships.first().organization,
                                                      "member": org_admin})
    assert Notification.objects.filter(kind="member-joined").count() == 2
    assert list(OutboxEmail.objects.values_list("to", flat=True)) == [org_admin.email]
    assert DigestItem.objects.pending().get().user == org_member


def test_kinds_that_must_arrive_at_once_ignore_a_digest_preference(org_member):
    prefer_digest(org_member, "test")
    notify(org_member, "test", {"message": "x"})
    assert OutboxEmail.objects.filter(to=org_member.email).count() == 1
    assert not DigestItem.objects.exists()


def test_the_daily_digest_is_one_email_per_user_with_the_days_notifications(
    org, org_member, org_admin, queued, django_capture_on_commit_callbacks
):
    prefer_digest(org_member)
    for n in range(3):
        other = f.UserFactory(name=f"Newcomer {n}")
        notify(org_member, "member-joined", {"organization": org, "member": other}, url=f"/organizations/{org.slug}/")
    notify(org_admin, "member-joined", {"organization": org, "member": org_member})  # immediate
    with django_capture_on_commit_callbacks(execute=True):
        assert digests.send_digests() == 1
    digest = OutboxEmail.objects.get(to=org_member.email)
    assert digest.subject == "Your daily digest: 3 notifications"
    assert digest.body_text.count("joined") == 3
    assert f"/organizations/{org.slug}/" in digest.body_html
    assert not DigestItem.objects.pending().exists()
    assert queued == [[digest.pk]]

    # Run again the same day: nothing left to send.
    assert digests.send_digests() == 0
    assert OutboxEmail.objects.filter(to=org_member.email).count() == 1


def test_the_digest_email_is_delivered_by_the_outbox(org, org_member, django_capture_on_commit_callbacks, monkeypatch):
    prefer_digest(org_member)
    notify(org_member, "member-joined", {"organization": org, "member": f.UserFactory()})
    monkeypatch.setattr(tasks.deliver_outbox, "delay", lambda ids: tasks.deliver_outbox(ids))
    with django_capture_on_commit_callbacks(execute=True):
        tasks.send_digests()
    assert [m.to for m in mail.outbox] == [[org_member.email]]
    assert "Your daily digest" in mail.outbox[0].subject


def test_settings_page_saves_the_choice_per_kind(client_for, org_member):
    client = client_for(org_member)
    page = client.get("/account/notifications/")
    assert page.status_code == 200
    assert b'name="kind-changes-requested-reminder"' in page.content
    assert b'name="kind-test"' not in page.content  # always immediate: not offered
    response = client.post("/account/notifications/", {f"kind-{KIND}": "digest", "kind-nonsense": "digest"})
    assert response.status_code == 302
    assert digests.preferences(org_member)[KIND] == "digest"
    assert not NotificationPreference.objects.filter(kind="nonsense").exists()
    client.post("/account/notifications/", {f"kind-{KIND}": "immediate"})
    assert digests.preferences(org_member)[KIND] == "immediate"


def test_the_account_pages_link_to_the_notification_settings(client_for, org_member):
    assert b'href="/account/notifications/"' in client_for(org_member).get("/account/profile/").content
