"""Celery tasks: thin wrappers that call services (STYLE §10)."""

from __future__ import annotations

from celery import shared_task

from portal import audit, notifications


@shared_task(acks_late=True)
def deliver_outbox(outbox_ids: list[int]) -> int:
    """Send the emails just committed. Rows already claimed or sent (by the drain,
    or by an earlier run of this task) are skipped, so each email goes out once.
    A failed send stays on its row; ``drain_outbox`` retries it after a back-off."""
    rows = notifications.claim(outbox_ids)
    sent, _failed = notifications.deliver(rows)
    return sent


@shared_task
def drain_outbox() -> int:
    """Deliver every row left behind (broker down at commit, worker lost mid-send,
    an earlier failed attempt whose back-off has passed)."""
    total = 0
    while rows := notifications.claim(limit=500):
        sent, _failed = notifications.deliver(rows)
        total += sent
        if sent == 0:
            # A whole batch failed: the mail server is likely down; the next run tries again.
            break
    return total


@shared_task
def publish_audit_head() -> int | None:
    publication = audit.publish_head()
    return publication.seq if publication else None


@shared_task(acks_late=True)
def sweep_deadlines() -> int:
    """Every reminder, transition and overdue notice that is due (DESIGN §2.4).

    Late acknowledgement: a worker killed mid-sweep leaves the message to be
    redelivered, and beat sends a fresh one every ``DEADLINE_SWEEP_SECONDS``
    anyway. Committed batches are never redone (claims); the batch that was
    running rolled back with the dead worker's connection."""
    from django.conf import settings

    from portal import deadlines

    return len(deadlines.sweep(batch_size=settings.DEADLINE_SWEEP_BATCH).actions)


@shared_task(acks_late=True)
def send_digests() -> int:
    """One digest email per user from the notifications that waited for it (daily)."""
    from portal import digests

    return digests.send_digests()
