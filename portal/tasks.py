"""Celery tasks: thin wrappers that call services (STYLE §10)."""

from __future__ import annotations

from celery import shared_task

from . import audit, notifications


@shared_task(bind=True, max_retries=5, acks_late=True)
def deliver_outbox(self, outbox_ids: list[int]) -> int:
    rows = notifications.claim(outbox_ids)
    sent, failed = notifications.deliver(rows)
    if failed:
        # Exponential backoff: 30 s, 60 s, 120 s... The drain catches anything left.
        raise self.retry(args=[failed], countdown=30 * 2**self.request.retries)
    return sent


@shared_task
def drain_outbox() -> int:
    """Deliver every row left behind (broker down at commit, worker lost mid-send)."""
    total = 0
    while rows := notifications.claim(limit=500):
        sent, _ = notifications.deliver(rows)
        total += sent
        if sent == 0:
            break
    return total


@shared_task
def publish_audit_head() -> int | None:
    publication = audit.publish_head()
    return publication.seq if publication else None
