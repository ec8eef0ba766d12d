"""``notify()``: the in-app notification and its email, written together (DESIGN §8).

The caller's transaction writes the ``Notification`` and an ``OutboxEmail`` row;
after commit a Celery task delivers the email. If the broker cannot be reached
then, the row simply waits: ``drain_outbox`` (Celery beat) picks it up later.
Each email is rendered from the trio ``emails/<kind>-subject.txt``,
``-body.txt`` and ``-body.html``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from .models import Notification, OutboxEmail, User

log = logging.getLogger(__name__)


def render_email(kind: str, context: dict) -> tuple[str, str, str]:
    context = {"site_url": settings.SITE_URL, "site_name": settings.SITE_NAME, **context}
    subject = render_to_string(f"emails/{kind}-subject.txt", context)
    subject = " ".join(subject.split())[:300]
    text = render_to_string(f"emails/{kind}-body.txt", context)
    html = render_to_string(f"emails/{kind}-body.html", context)
    return subject, text, html


def notify(
    users: User | Iterable[User], kind: str, context: dict | None = None, *, url: str = "", email: bool = True
) -> list[Notification]:
    """Notify each user: an in-app notification plus, if ``email``, an outbox row.

    Runs inside the caller's transaction; the email task is queued on commit.
    """
    if isinstance(users, User):
        users = [users]
    created: list[Notification] = []
    outbox_ids: list[int] = []
    with transaction.atomic():
        for user in users:
            if not user.is_active:
                continue
            with translation.override(settings.LANGUAGE_CODE):
                subject, text, html = render_email(kind, {"user": user, "url": url, **(context or {})})
            note = Notification.objects.create(user=user, kind=kind, subject=subject, body=text, url=url)
            created.append(note)
            if email:
                row = OutboxEmail.objects.create(
                    notification=note, to=user.email, subject=subject, body_text=text, body_html=html
                )
                outbox_ids.append(row.pk)
        if outbox_ids:
            transaction.on_commit(lambda: enqueue_delivery(outbox_ids))
    return created


def enqueue_delivery(outbox_ids: list[int]) -> None:
    """Queue delivery; a broker outage is logged, not raised: the drain retries."""
    from .tasks import deliver_outbox

    try:
        deliver_outbox.delay(outbox_ids)
    except Exception:  # noqa: BLE001 - any broker error leaves the rows for drain_outbox
        log.warning("broker unreachable; %d outbox email(s) left for the periodic drain", len(outbox_ids))


def claim(outbox_ids: Iterable[int] | None = None, limit: int = 500) -> list[OutboxEmail]:
    """Claim deliverable rows atomically; rows another worker holds are skipped."""
    now = timezone.now()
    with transaction.atomic():
        qs = OutboxEmail.objects.deliverable(now).order_by("id")
        if outbox_ids is not None:
            qs = qs.filter(pk__in=list(outbox_ids))
        ids = list(qs.select_for_update(skip_locked=True).values_list("pk", flat=True)[:limit])
        if not ids:
            return []
        OutboxEmail.objects.filter(pk__in=ids).update(claimed_at=now)
    return list(OutboxEmail.objects.filter(pk__in=ids, claimed_at=now))


def deliver(rows: list[OutboxEmail]) -> tuple[int, list[int]]:
    """Send claimed rows over one connection. Returns (sent, ids that failed)."""
    sent, failed = 0, []
    if not rows:
        return 0, []
    connection = get_connection()
    try:
        connection.open()
        for row in rows:
            message = EmailMultiAlternatives(
                subject=row.subject, body=row.body_text, to=[row.to], connection=connection
            )
            if row.body_html:
                message.attach_alternative(row.body_html, "text/html")
            try:
                message.send()
            except Exception as exc:  # noqa: BLE001 - recorded on the row, retried later
                OutboxEmail.objects.filter(pk=row.pk).update(
                    claimed_at=None, attempts=row.attempts + 1, last_error=str(exc)[:2000]
                )
                failed.append(row.pk)
                continue
            OutboxEmail.objects.filter(pk=row.pk).update(sent_at=timezone.now(), attempts=row.attempts + 1)
            sent += 1
    finally:
        connection.close()
    return sent, failed
