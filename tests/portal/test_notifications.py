"""notify(), the outbox and its delivery, the notification pages."""

from __future__ import annotations

import smtplib
import threading

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.db import connections, transaction
from django.utils import timezone

from portal import notifications, tasks
from portal.models import Notification, OutboxEmail
from portal.notifications import MAX_ATTEMPTS, notify
from tests import factories as f

pytestmark = pytest.mark.django_db


class FailingBackend(BaseEmailBackend):
    def send_messages(self, messages):
        raise smtplib.SMTPServerDisconnected("boom: server went away")


class UnreachableBackend(BaseEmailBackend):
    def open(self):
        raise ConnectionRefusedError("connection refused")

    def send_messages(self, messages):  # pragma: no cover - never reached
        raise AssertionError("open() failed, nothing may be sent")


class PickyBackend(LocmemBackend):
    """Refuses one address, delivers the rest."""

    def send_messages(self, messages):
        for m in messages:
            if "bounce@" in m.to[0]:
                raise smtplib.SMTPRecipientsRefused({m.to[0]: (550, b"no such user")})
        return super().send_messages(messages)


HERE = "tests.portal.test_notifications"


@pytest.fixture
def queued(monkeypatch):
    """Record what enqueue_delivery hands to Celery instead of touching a broker."""
    calls: list[list[int]] = []
    monkeypatch.setattr(tasks.deliver_outbox, "delay", lambda ids: calls.append(list(ids)))
    return calls


def test_notify_writes_notification_and_email_and_queues_delivery_on_commit(
    org_member, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        with transaction.atomic():
            [note] = notify(org_member, "test", {"message": "Hello there."}, url="/dashboard/")
            # Inside the transaction nothing is queued yet.
            assert queued == []
    row = OutboxEmail.objects.get()
    assert row.notification == note
    assert (note.user, note.kind, note.subject, note.url) == (org_member, "test", "Test notification", "/dashboard/")
    assert "Hello there." in note.body and "Hello there." in row.body_html
    assert (row.to, row.subject, row.sent_at) == (org_member.email, "Test notification", None)
    assert len(callbacks) == 1
    assert queued == []
    callbacks[0]()
    assert queued == [[row.pk]]
    assert mail.outbox == []

    # The task body, run in-process.
    assert tasks.deliver_outbox(queued[0]) == 1
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == [org_member.email]
    assert sent.subject == "Test notification"
    assert sent.alternatives[0][1] == "text/html"
    row.refresh_from_db()
    assert row.sent_at is not None and row.attempts == 1


def test_notification_and_email_roll_back_with_the_caller(org_member, queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                notify(org_member, "test", {"message": "never"})
                assert Notification.objects.count() == 1
                raise RuntimeError("the state change failed")
    assert not Notification.objects.exists()
    assert not OutboxEmail.objects.exists()
    assert callbacks == []
    assert queued == []


def test_notify_many_users_skips_inactive_and_can_skip_email(org_member, org_admin, queued):
    gone = f.UserFactory(is_active=False)
    notes = notify([org_member, gone, org_admin], "test", {"message": "x"})
    assert {n.user for n in notes} == {org_member, org_admin}
    assert OutboxEmail.objects.count() == 2
    notify(org_member, "test", {"message": "in-app only"}, email=False)
    assert Notification.objects.filter(user=org_member).count() == 2
    assert OutboxEmail.objects.count() == 2


def test_broker_outage_leaves_row_for_the_drain(org_member, monkeypatch, django_capture_on_commit_callbacks):
    def unreachable(ids):
        raise OSError("broker down")

    monkeypatch.setattr(tasks.deliver_outbox, "delay", unreachable)
    with django_capture_on_commit_callbacks(execute=True):
        notify(org_member, "test", {"message": "x"})
    assert OutboxEmail.objects.get().sent_at is None
    assert tasks.drain_outbox() == 1
    assert len(mail.outbox) == 1


@pytest.mark.parametrize("order", ["deliver-then-drain", "drain-then-deliver"])
def test_exactly_one_email_when_task_and_drain_both_run(org_member, org_admin, queued, order,
                                                        django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        notify([org_member, org_admin], "test", {"message": "x"})
    [ids] = queued
    if order == "deliver-then-drain":
        tasks.deliver_outbox(ids)
        tasks.drain_outbox()
    else:
        tasks.drain_outbox()
        tasks.deliver_outbox(ids)
    tasks.deliver_outbox(ids)  # a redelivered task message changes nothing either
    assert sorted(m.to[0] for m in mail.outbox) == sorted([org_member.email, org_admin.email])
    assert all(r.attempts == 1 for r in OutboxEmail.objects.all())


def test_claimed_row_is_not_taken_by_another_worker_until_the_claim_goes_stale(org_member):
    notify(org_member, "test", {"message": "x"})
    assert len(notifications.claim()) == 1
    assert notifications.claim() == []  # held by the first worker (which then died)
    assert tasks.drain_outbox() == 0
    with time_machine.travel(timezone.now() + settings.OUTBOX_CLAIM_TIMEOUT + timezone.timedelta(seconds=1)):
        assert tasks.drain_outbox() == 1
    assert len(mail.outbox) == 1


def test_failed_send_is_kept_for_retry_and_given_up_after_ten_attempts(org_member, settings):
    settings.EMAIL_BACKEND = f"{HERE}.FailingBackend"
    notify(org_member, "test", {"message": "x"})
    row = OutboxEmail.objects.get()

    assert tasks.deliver_outbox([row.pk]) == 0
    row.refresh_from_db()
    assert (row.attempts, row.sent_at, row.failed_at) == (1, None, None)
    assert "boom: server went away" in row.last_error
    # Backed off: an immediate drain does not hammer the server again.
    tasks.drain_outbox()
    row.refresh_from_db()
    assert row.attempts == 1

    # Exponential back-off: 30 s after the first failure, 60 s after the second.
    now = timezone.now() + timezone.timedelta(seconds=31)
    with time_machine.travel(now):
        tasks.drain_outbox()
    row.refresh_from_db()
    assert row.attempts == 2
    with time_machine.travel(now + timezone.timedelta(seconds=45)):
        tasks.drain_outbox()
    row.refresh_from_db()
    assert row.attempts == 2
    for attempt in range(3, MAX_ATTEMPTS + 1):
        now += timezone.timedelta(hours=6, seconds=1)
        with time_machine.travel(now):
            tasks.drain_outbox()
        row.refresh_from_db()
        assert row.attempts == attempt
        assert (row.failed_at is not None) == (attempt == MAX_ATTEMPTS)
    assert "boom" in row.last_error

    # Given up: even with a working server and much later, it is not sent.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with time_machine.travel(now + timezone.timedelta(days=1)):
        assert tasks.drain_outbox() == 0
    row.refresh_from_db()
    assert row.attempts == MAX_ATTEMPTS and row.sent_at is None
    assert mail.outbox == []


def test_failed_row_is_sent_on_a_later_retry(org_member, settings):
    settings.EMAIL_BACKEND = f"{HERE}.FailingBackend"
    notify(org_member, "test", {"message": "x"})
    tasks.drain_outbox()
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with time_machine.travel(timezone.now() + settings.OUTBOX_CLAIM_TIMEOUT + timezone.timedelta(seconds=1)):
        assert tasks.drain_outbox() == 1
    row = OutboxEmail.objects.get()
    assert row.sent_at is not None and row.attempts == 2 and row.last_error == ""
    assert len(mail.outbox) == 1


def test_one_bad_address_does_not_block_the_others(org_member, settings):
    settings.EMAIL_BACKEND = f"{HERE}.PickyBackend"
    bouncer = f.UserFactory(email="bounce@example.org")
    notify([bouncer, org_member], "test", {"message": "x"})
    assert tasks.drain_outbox() == 1
    assert [m.to for m in mail.outbox] == [[org_member.email]]
    bad = OutboxEmail.objects.get(to="bounce@example.org")
    assert bad.attempts == 1 and bad.sent_at is None and "bounce@example.org" in bad.last_error


def test_unreachable_mail_server_counts_an_attempt_on_every_claimed_row(org_member, org_admin, settings):
    settings.EMAIL_BACKEND = f"{HERE}.UnreachableBackend"
    notify([org_member, org_admin], "test", {"message": "x"})
    assert tasks.drain_outbox() == 0
    for row in OutboxEmail.objects.all():
        assert row.attempts == 1 and row.claimed_at is not None
        assert "connection refused" in row.last_error


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_task_and_drains_send_each_email_once():
    users = [f.UserFactory() for _ in range(30)]
    notes = notify(users, "test", {"message": "x"})
    ids = list(OutboxEmail.objects.filter(notification__in=notes).values_list("pk", flat=True))
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def run(job) -> None:
        try:
            barrier.wait()
            job()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    jobs = [lambda: tasks.deliver_outbox(ids), tasks.drain_outbox, tasks.drain_outbox]
    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    recipients = sorted(m.to[0] for m in mail.outbox)
    assert recipients == sorted(u.email for u in users)
    assert OutboxEmail.objects.filter(sent_at__isnull=True).count() == 0


# --- pages -------------------------------------------------------------------------------------


def test_notification_page_shows_unread_count_and_marks_read(client_for, org_member, other_member):
    first = notify(org_member, "test", {"message": "one"}, url="/organizations/acme/")[0]
    second = notify(org_member, "test", {"message": "two"})[0]
    theirs = notify(other_member, "test", {"message": "theirs"})[0]
    client = client_for(org_member)

    page = client.get("/notifications/")
    assert page.status_code == 200
    assert page.context["unread_count"] == 2
    html = page.content.decode()
    assert 'aria-label="2 unread"' in html
    assert html.count('class="unread"') == 2

    response = client.post(f"/notifications/{first.pk}/read/")
    assert response.status_code == 302
    assert response["Location"] == "/organizations/acme/"
    first.refresh_from_db()
    assert first.read_at is not None
    assert client.get("/notifications/").context["unread_count"] == 1

    assert client.post(f"/notifications/{second.pk}/read/")["Location"] == "/notifications/"
    assert client.post(f"/notifications/{theirs.pk}/read/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None
    page = client.get("/notifications/")
    assert page.context["unread_count"] == 0
    assert 'class="unread"' not in page.content.decode()


def test_mark_all_read(client_for, org_member, other_member):
    notify(org_member, "test", {"message": "one"})
    notify(org_member, "test", {"message": "two"})
    theirs = notify(other_member, "test", {"message": "theirs"})[0]
    client = client_for(org_member)
    assert client.post("/notifications/read-all/").status_code == 302
    assert client.get("/notifications/").context["unread_count"] == 0
    assert Notification.objects.get(pk=theirs.pk).read_at is None


def test_notification_pages_need_login(client, db):
    assert client.get("/notifications/").status_code == 302
    assert client.post("/notifications/read-all/").status_code == 302
