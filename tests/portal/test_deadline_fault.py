"""The deadline sweep on real Celery workers and Redis, and what survives faults.

``test_a_real_worker_runs_the_sweep``: a worker on Redis runs ``sweep_deadlines``
and delivers each reminder's email once.

``test_no_reminder_is_lost_or_duplicated_when_a_worker_dies_and_redis_restarts``
(slow): 10,000 deadlines already due; a worker is killed (SIGKILL) in the middle
of the sweep, then the private Redis is stopped (losing every queued message),
a web submission commits while it is down, and Redis comes back empty. A new
worker with beat finishes the sweep and the outbox drain delivers everything:
each reminder exactly once in the mail folder, and the web submission's email too.
"""

from __future__ import annotations

import re
import signal
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from portal import tasks
from portal.models import Deadline, Notification, OutboxEmail, ReminderClaim, User
from portal.notifications import notify
from tests.celery_support import celery_broker, celery_worker, redis_server, stop_process_group, wait_for
from tests.portal.deadline_fault_kinds import KIND

pytestmark = [
    pytest.mark.redis,
    # Workers are other processes: they must see committed rows in a shared database.
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

WORKER_ENV = {"DJANGO_SETTINGS_MODULE": "tests.portal.deadline_fault_settings"}
REMINDER = re.compile(r"reminder for deadline (\d+)\.")


def seed_due(n: int, users: int = 10) -> list[int]:
    """``n`` deadlines whose T-1d reminder is due now (the due time is 12 hours away)."""
    targets = User.objects.bulk_create([User(email=f"target{i}@example.org") for i in range(users)])
    ct = ContentType.objects.get_for_model(User)
    now = timezone.now()
    rows = Deadline.objects.bulk_create(
        Deadline(content_type=ct, object_id=targets[i % users].pk, kind=KIND, due_at=now + timedelta(hours=12),
                 next_action_at=now - timedelta(minutes=1))
        for i in range(n)
    )
    return [d.pk for d in rows]


def reminders_in(emails: list[str]) -> Counter:
    """How many messages name each deadline (a message names it in its text and HTML parts)."""
    return Counter(pk for e in emails for pk in {int(m.group(1)) for m in REMINDER.finditer(e)})


def test_a_real_worker_runs_the_sweep(tmp_path):
    ids = seed_due(20, users=4)
    with celery_worker(tmp_path, env=WORKER_ENV) as worker:
        tasks.sweep_deadlines.delay()
        emails = worker.wait_for_emails(20)
        wait_for(lambda: OutboxEmail.objects.filter(sent_at__isnull=False).count() == 20, 15, what="sent rows")
        # A second sweep finds nothing due: nothing is sent twice.
        tasks.sweep_deadlines.delay()
        wait_for(lambda: worker.log().count("portal.tasks.sweep_deadlines[") >= 4, 15, what="the second sweep")
        time.sleep(1)
        emails = worker.emails()
    assert reminders_in(emails) == Counter({pk: 1 for pk in ids})
    assert ReminderClaim.objects.filter(reminder="T-1d").count() == 20
    assert re.search(r"portal\.tasks\.sweep_deadlines\[[^\]]+\] succeeded in [\d.]+s: 20", worker.log())


@pytest.mark.slow
def test_no_reminder_is_lost_or_duplicated_when_a_worker_dies_and_redis_restarts(tmp_path):
    total = 10_000
    ids = seed_due(total)
    web_user = User.objects.create(email="web@example.org")

    with redis_server() as redis, celery_broker(redis.url):
        # 1. A worker starts the sweep and is killed (SIGKILL) in the middle of it.
        with celery_worker(tmp_path / "a", broker_url=redis.url, env=WORKER_ENV) as worker_a:
            tasks.sweep_deadlines.delay()
            wait_for(lambda: ReminderClaim.objects.count() >= 1000, 120, interval=0.05,
                     what="the sweep to be under way")
            stop_process_group(worker_a.proc, sig=signal.SIGKILL)
        claimed = ReminderClaim.objects.count()
        assert claimed < total, "the sweep finished before the kill: nothing was tested"
        # Batches commit whole: the one the worker was in rolled back with its connection.
        assert claimed % 500 == 0
        assert Notification.objects.count() == OutboxEmail.objects.count() == claimed

        # 2. Redis stops: every queued delivery message is lost with it.
        redis.stop()
        started = time.monotonic()
        with transaction.atomic():
            notify(web_user, "test", {"message": "Submitted while the broker was down."})
        assert time.monotonic() - started < 8, "a web submission must not wait for the broker"
        assert OutboxEmail.objects.filter(to="web@example.org", sent_at__isnull=True).count() == 1
        redis.start()

        # 3. A new worker with beat finishes the sweep and drains the outbox.
        env = {**WORKER_ENV, "DEADLINE_SWEEP_SECONDS": "2", "OUTBOX_DRAIN_SECONDS": "2"}
        with celery_worker(tmp_path / "b", broker_url=redis.url, env=env, beat=True) as worker_b:
            wait_for(lambda: OutboxEmail.objects.filter(sent_at__isnull=False).count() == total + 1, 240,
                     interval=0.5, what="every email to be sent")
            emails = worker_b.wait_for_emails(total + 1, timeout=30)
            time.sleep(2)  # one more beat round: nothing else may arrive
            emails = worker_b.emails()

    assert ReminderClaim.objects.count() == total
    assert reminders_in(emails) == Counter({pk: 1 for pk in ids})  # none lost, none twice
    assert sum("Submitted while the broker was down." in e for e in emails) == 1
    assert len(emails) == total + 1
    assert not OutboxEmail.objects.filter(sent_at__isnull=True).exists()
