"""The notification pipeline with real Celery workers on Redis (DESIGN §8, §9).

notify() commits a notification and an outbox row; a real worker sends the
email. When the broker cannot be reached at commit, notify() still commits
quickly and the periodic drain (Celery beat) sends the email later, once.
"""

from __future__ import annotations

import contextlib
import re
import signal
import time

import pytest
from django.db import transaction

from portal.models import Notification, OutboxEmail
from portal.notifications import notify
from portal.tasks import drain_outbox
from tests import factories as f
from tests.celery_support import celery_broker, celery_worker, redis_server, wait_for

pytestmark = [
    pytest.mark.redis,
    # The worker is another process: it must see committed rows in a shared database.
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

# Settings: socket timeout 3 s, no publish retry. Generous margin for a loaded CI machine,
# far below the "hangs forever" this guards against.
PUBLISH_GIVE_UP_SECONDS = 8


@contextlib.contextmanager
def alarm_after(seconds: int):
    """Interrupt a blocked call (SIGALRM) so a hang fails the test instead of the whole run."""

    def interrupt(signum, frame):
        raise TimeoutError(f"still blocked after {seconds} s")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def sent_row(row_id: int) -> OutboxEmail | None:
    row = OutboxEmail.objects.get(pk=row_id)
    return row if row.sent_at else None


def test_a_real_worker_delivers_the_email_of_a_notification(tmp_path):
    user = f.UserFactory(email="ada@example.org")

    with celery_worker(tmp_path) as worker:
        notify(user, "test", {"message": "Delivered by a real worker."})
        row = OutboxEmail.objects.get(to="ada@example.org")
        emails = worker.wait_for_emails(1)
        row = wait_for(lambda: sent_row(row.pk), 15, what="sent_at on the outbox row")

    assert len(emails) == 1
    assert "To: ada@example.org" in emails[0]
    assert "Subject: Test notification" in emails[0]
    assert "Delivered by a real worker." in emails[0]
    assert row.attempts == 1
    assert re.search(r"portal\.tasks\.deliver_outbox\[[^\]]+\] succeeded", worker.log())


@pytest.mark.parametrize("outage", ["stopped", "frozen"])
def test_notify_commits_quickly_without_a_broker_and_the_drain_delivers_once(tmp_path, settings, outage):
    """``stopped``: connection refused. ``frozen`` (SIGSTOP): the port accepts but never
    answers, which without a socket timeout blocks the publish, and the request, forever."""
    user = f.UserFactory(email="bob@example.org")

    with redis_server() as broker, celery_broker(broker.url):
        settings.CELERY_BROKER_URL = broker.url
        # A web process has pooled broker connections: a retry on a pooled connection
        # to a frozen broker costs another socket timeout each time.
        drain_outbox.delay()
        if outage == "stopped":
            broker.stop()
        else:
            broker.freeze()

        started = time.monotonic()
        with alarm_after(30):  # a publish without a socket timeout would block here forever
            with transaction.atomic():
                notify(user, "test", {"message": "Sent after the outage."})
        elapsed = time.monotonic() - started

        assert elapsed < PUBLISH_GIVE_UP_SECONDS, f"notify() blocked {elapsed:.1f} s on an unreachable broker"
        assert Notification.objects.filter(user=user, kind="test").count() == 1
        row = OutboxEmail.objects.get(to="bob@example.org")
        assert row.sent_at is None

        if outage == "stopped":
            broker.start()
        else:
            broker.thaw()
        # A frozen broker may still hold the timed-out publish: keep the queue, the
        # delivery must stay single even when the task and the drain both run.
        with celery_worker(
            tmp_path, broker_url=broker.url, beat=True, purge=False, env={"OUTBOX_DRAIN_SECONDS": "1"}
        ) as worker:
            worker.wait_for_emails(1, timeout=45)
            row = wait_for(lambda: sent_row(row.pk), 15, what="sent_at on the outbox row")
            # Let beat run the drain a few more times: nothing may be sent again.
            wait_for(
                lambda: len(re.findall(r"portal\.tasks\.drain_outbox\[[^\]]+\] succeeded", worker.log())) >= 3,
                30,
                what="three more drain runs",
            )
            emails = worker.emails()
            log = worker.log()

    assert len(emails) == 1, emails
    assert "To: bob@example.org" in emails[0]
    assert "Sent after the outage." in emails[0]
    assert row.attempts == 1
    if outage == "stopped":
        # Nothing reached the broker at commit: the periodic drain sent it.
        assert re.search(r"portal\.tasks\.drain_outbox\[[^\]]+\] succeeded in [0-9.]+s: 1\b", log), log[-3000:]
        assert not re.search(r"portal\.tasks\.deliver_outbox\[", log)
