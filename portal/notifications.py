"""``notify()``: the in-app notification and its email, written together (DESIGN §8).

The caller's transaction writes the ``Notification`` and an ``OutboxEmail`` row;
after commit a Celery task delivers the email. If the broker cannot be reached
then, the row simply waits: ``drain_outbox`` (Celery beat) picks it up later.
Each email is rendered from the trio ``emails/<kind>-subject.txt``,
``-body.txt`` and ``-body.html``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from portal import digests
from portal.models import DigestItem, Notification, OutboxEmail, User

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

    Runs inside the caller's transaction; the email task is queued on commit
    (inside ``batched_delivery()``, collected and queued in chunks; inside
    ``bulk_writes()`` the rows are inserted later, in bulk). A user who
    chose the daily digest for ``kind`` gets the notification now and the email
    in the digest (``portal.digests``).
    """
    users = [users] if isinstance(users, User) else list(users)
    created: list[Notification] = []
    outbox_ids: list[int] = []
    # Users who chose the daily digest for this kind get the in-app notification now
    # and its email in their digest (portal.digests).
    digest_user_ids = digests.digest_user_ids(users, kind) if email else set()
    pending = _bulk_rows.get()
    if pending is not None:
        # Inside ``bulk_writes()``: the rows are built here and inserted by its ``flush``.
        for user in users:
            if not user.is_active:
                continue
            with translation.override(user.language or settings.LANGUAGE_CODE):
                subject, text, html = render_email(kind, {"user": user, "url": url, **(context or {})})
            note = Notification(user=user, kind=kind, subject=subject, body=text, url=url)
            created.append(note)
            if email and user.pk in digest_user_ids:
                pending.held.append(note)
            elif email:
                pending.emails.append((note, OutboxEmail(to=user.email, subject=subject, body_text=text,
                                                         body_html=html)))
            pending.notes.append(note)
        return created
    with transaction.atomic():
        for user in users:
            if not user.is_active:
                continue
            with translation.override(user.language or settings.LANGUAGE_CODE):
                subject, text, html = render_email(kind, {"user": user, "url": url, **(context or {})})
            note = Notification.objects.create(user=user, kind=kind, subject=subject, body=text, url=url)
            created.append(note)
            if email and user.pk in digest_user_ids:
                digests.hold(note)
            elif email:
                row = OutboxEmail.objects.create(
                    notification=note, to=user.email, subject=subject, body_text=text, body_html=html
                )
                outbox_ids.append(row.pk)
        if outbox_ids:
            buffer = _delivery_buffer.get()
            transaction.on_commit(lambda: enqueue_delivery(outbox_ids, buffer))
    return created


# --- Bulk writes (deadline sweep) ------------------------------------------------------------
#
# A sweep batch notifies hundreds of people: one INSERT per notification, outbox row and
# savepoint was most of its time. Inside ``bulk_writes()`` notify() renders and builds the
# rows in memory; ``PendingRows.flush()`` inserts them in one statement per table, in the
# caller's transaction, and queues their delivery on commit exactly as notify() does.


@dataclass
class PendingRows:
    notes: list[Notification] = field(default_factory=list)
    emails: list[tuple[Notification, OutboxEmail]] = field(default_factory=list)
    held: list[Notification] = field(default_factory=list)  # their email waits for the digest

    def flush(self) -> list[int]:
        """Insert what the notify() calls built; returns the outbox ids queued on commit."""
        Notification.objects.bulk_create(self.notes, batch_size=BULK_INSERT_ROWS)
        outbox = []
        for note, row in self.emails:
            row.notification = note  # now that the note has its primary key
            outbox.append(row)
        OutboxEmail.objects.bulk_create(outbox, batch_size=BULK_INSERT_ROWS)
        DigestItem.objects.bulk_create([DigestItem(user_id=note.user_id, notification=note) for note in self.held],
                                       batch_size=BULK_INSERT_ROWS)
        outbox_ids = [row.pk for row in outbox]
        if outbox_ids:
            buffer = _delivery_buffer.get()
            transaction.on_commit(lambda: enqueue_delivery(outbox_ids, buffer))
        self.notes, self.emails, self.held = [], [], []
        return outbox_ids


BULK_INSERT_ROWS = 1000
_bulk_rows: ContextVar[PendingRows | None] = ContextVar("portal_bulk_rows", default=None)


@contextmanager
def bulk_writes() -> Iterator[PendingRows]:
    """notify() calls inside the block write nothing yet: the caller inserts their rows with
    ``flush()`` before its transaction ends (rows not flushed are dropped, as on a rollback).
    Needs a database that returns the ids of a bulk insert (PostgreSQL, SQLite >= 3.35)."""
    pending = PendingRows()
    token = _bulk_rows.set(pending)
    try:
        yield pending
    finally:
        _bulk_rows.reset(token)


def enqueue_delivery(outbox_ids: list[int], buffer: list[int] | None = None) -> None:
    """Queue delivery; a broker outage is logged, not raised: the drain retries.

    Inside ``batched_delivery()`` the ids are collected and published together."""
    if buffer is not None:
        buffer.extend(outbox_ids)
        return
    from portal.tasks import deliver_outbox

    try:
        deliver_outbox.delay(outbox_ids)
    except Exception:  # noqa: BLE001 - any broker error leaves the rows for drain_outbox
        log.warning("broker unreachable; %d outbox email(s) left for the periodic drain", len(outbox_ids))


# --- Batched delivery (deadline sweep, digests) -------------------------------------------
#
# A sweep batch may notify thousands of people. One Celery message per notify()
# call would flood the broker, so inside ``batched_delivery()`` the committed
# outbox ids are collected and published in messages of DELIVERY_CHUNK ids.

DELIVERY_CHUNK = 500
_delivery_buffer: ContextVar[list[int] | None] = ContextVar("portal_delivery_buffer", default=None)


@contextmanager
def batched_delivery(chunk: int = DELIVERY_CHUNK) -> Iterator[list[int]]:
    """Collect the outbox ids that ``notify()`` calls inside the block queue on commit;
    publish them in chunks of ``chunk`` once their transaction has committed.

    Wrap it around the ``transaction.atomic()`` block, or use it inside one: the
    publication itself is an on-commit callback, registered after those of the
    ``notify()`` calls, so it runs after they have filled the buffer, and never
    for a transaction that rolled back."""
    buffer: list[int] = []
    token = _delivery_buffer.set(buffer)
    try:
        yield buffer
    finally:
        _delivery_buffer.reset(token)
    transaction.on_commit(lambda: publish_delivery(buffer, chunk))


def publish_delivery(outbox_ids: list[int], chunk: int = DELIVERY_CHUNK) -> None:
    for start in range(0, len(outbox_ids), chunk):
        enqueue_delivery(outbox_ids[start:start + chunk])


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


MAX_ATTEMPTS = 10


def _record_failure(row: OutboxEmail, error: str, now) -> bool:
    """Count a failed attempt and back off exponentially: 30 s, 1 min, 2 min...
    (capped at 6 h). The claim time is set so that the claim goes stale exactly
    when the back-off ends, and the drain retries it then (no extra column).
    After ``MAX_ATTEMPTS`` the row is given up (``failed_at``).
    Returns True when the row may still be retried."""
    attempts = row.attempts + 1
    gave_up = attempts >= MAX_ATTEMPTS
    backoff = min(timedelta(seconds=30) * 2 ** (attempts - 1), timedelta(hours=6))
    OutboxEmail.objects.filter(pk=row.pk, sent_at__isnull=True).update(
        claimed_at=now - settings.OUTBOX_CLAIM_TIMEOUT + backoff, attempts=attempts, last_error=error[:2000],
        failed_at=now if gave_up else None,
    )
    if gave_up:
        log.error("giving up on outbox email %s to %s after %d attempts: %s", row.pk, row.to, attempts, error)
    return not gave_up


def deliver(rows: list[OutboxEmail]) -> tuple[int, list[int]]:
    """Send claimed rows over one connection. Returns (sent, ids that failed and will be retried).

    A row that fails is left for ``drain_outbox`` with ``attempts`` and
    ``last_error`` updated; the tenth failure sets ``failed_at`` and stops retries.
    """
    sent, failed = 0, []
    if not rows:
        return 0, []
    connection = get_connection()
    try:
        connection.open()
    except Exception as exc:  # noqa: BLE001 - the server is down: every row counts one failed attempt
        now = timezone.now()
        return 0, [row.pk for row in rows if _record_failure(row, f"{type(exc).__name__}: {exc}", now)]
    try:
        for row in rows:
            message = EmailMultiAlternatives(
                subject=row.subject, body=row.body_text, to=[row.to], connection=connection
            )
            if row.body_html:
                message.attach_alternative(row.body_html, "text/html")
            try:
                message.send()
            except Exception as exc:  # noqa: BLE001 - recorded on the row, retried later
                if _record_failure(row, f"{type(exc).__name__}: {exc}", timezone.now()):
                    failed.append(row.pk)
                continue
            OutboxEmail.objects.filter(pk=row.pk).update(
                sent_at=timezone.now(), attempts=row.attempts + 1, last_error=""
            )
            sent += 1
    finally:
        try:
            connection.close()
        except Exception:  # noqa: BLE001 - the messages are sent; a failed QUIT changes nothing
            log.warning("closing the email connection failed", exc_info=True)
    return sent, failed
