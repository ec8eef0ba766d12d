"""Daily digests (DESIGN §2.4): per user and per notification kind, emails go out
immediately (the default) or wait for one digest email a day.

``notify()`` always writes the in-app notification. For a kind the user set to
"digest" it writes a ``DigestItem`` instead of an outbox row; ``send_digests``
(Celery beat, daily at ``DIGEST_HOUR`` UTC) turns each user's waiting items into
ONE outbox email, written in the same transaction that marks the items, so a
digest is built once even when two runs overlap, and delivered like any other
email (after commit, retried by the outbox drain).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation

from portal import labels
from portal.models import DigestItem, Notification, NotificationPreference, OutboxEmail, User

Delivery = NotificationPreference.Delivery

# Kinds that must reach the person at once, whatever they chose (and the digest itself).
ALWAYS_IMMEDIATE = frozenset({"digest", "invitation", "contact-confirmation", "login-throttled", "test"})



@cache
def email_kinds() -> tuple[str, ...]:
    """Every kind with an email trio (``emails/<kind>-subject.txt``) in the project or an app."""
    dirs = [Path(d) / "emails" for t in settings.TEMPLATES for d in t.get("DIRS", [])]
    dirs += [Path(app.path) / "templates" / "emails" for app in apps.get_app_configs()]
    kinds = {p.name[: -len("-subject.txt")] for d in dirs if d.is_dir() for p in d.glob("*-subject.txt")}
    return tuple(sorted(kinds))


def choosable_kinds() -> list[tuple[str, str]]:
    """(kind, label) of every kind a user may move to the digest, in the reader's language: each app
    registers the labels of the kinds it sends (``labels.register("notification_kind", ...)``)."""
    registered = labels.known("notification_kind")
    return [(k, str(registered.get(k) or k.replace("-", " ").capitalize()))
            for k in email_kinds() if k not in ALWAYS_IMMEDIATE]


def digest_user_ids(users: Iterable[User], kind: str) -> set[int]:
    """Of these users, those who get ``kind`` in their daily digest (one query)."""
    if kind in ALWAYS_IMMEDIATE:
        return set()
    ids = [u.pk for u in users]
    if not ids:
        return set()
    return set(
        NotificationPreference.objects.filter(user_id__in=ids, kind=kind, delivery=Delivery.DIGEST)
        .values_list("user_id", flat=True)
    )


def hold(note: Notification) -> DigestItem:
    return DigestItem.objects.create(user_id=note.user_id, notification=note)


def preferences(user: User) -> dict[str, str]:
    """kind -> delivery for every choosable kind (immediate when the user set nothing)."""
    stored = dict(NotificationPreference.objects.filter(user=user).values_list("kind", "delivery"))
    return {kind: stored.get(kind, Delivery.IMMEDIATE) for kind, _label in choosable_kinds()}


def set_preferences(user: User, choices: dict[str, str]) -> int:
    """Store the user's choices; returns how many changed. Unknown kinds are ignored."""
    from portal import audit

    allowed = dict(choosable_kinds())
    current = preferences(user)
    changed = {k: v for k, v in choices.items() if k in allowed and v in Delivery.values and current.get(k) != v}
    if not changed:
        return 0
    with transaction.atomic():
        for kind, delivery in changed.items():
            NotificationPreference.objects.update_or_create(user=user, kind=kind, defaults={"delivery": delivery})
        audit.log("portal.notifications.preferences_changed", actor=user, obj=user, payload={"changed": changed})
    return len(changed)


def send_digests(now=None, users_per_batch: int = 200) -> int:
    """Build one digest email per user from their waiting notifications. Returns emails built.

    Steps, per batch of users: lock their waiting items (skipping items another
    run holds), render one email per user, write its outbox row and point the
    items at it, commit; the outbox ids are then published in batches.
    """
    from portal.notifications import batched_delivery, render_email

    now = now or timezone.now()
    built = 0
    done_users: set[int] = set()
    while True:
        user_ids = list(
            DigestItem.objects.pending().filter(created_at__lte=now).exclude(user_id__in=done_users)
            .order_by("user_id").values_list("user_id", flat=True).distinct()[:users_per_batch]
        )
        if not user_ids:
            return built
        done_users.update(user_ids)
        with batched_delivery() as _ids, transaction.atomic():
            items = list(
                DigestItem.objects.pending().filter(user_id__in=user_ids, created_at__lte=now)
                .select_for_update(skip_locked=True).order_by("user_id", "created_at", "id")
            )
            notes = Notification.objects.in_bulk([i.notification_id for i in items])
            users = User.objects.in_bulk(user_ids)
            by_user: dict[int, list[DigestItem]] = {}
            for item in items:
                by_user.setdefault(item.user_id, []).append(item)
            outbox_ids = []
            for user_id, user_items in by_user.items():
                user = users.get(user_id)
                if user is None or not user.is_active:
                    continue
                entries = [notes[i.notification_id] for i in user_items]
                with translation.override(user.language or settings.LANGUAGE_CODE):
                    subject, text, html = render_email("digest", {"user": user, "notifications": entries,
                                                                  "count": len(entries), "day": now})
                row = OutboxEmail.objects.create(to=user.email, subject=subject, body_text=text, body_html=html)
                DigestItem.objects.filter(pk__in=[i.pk for i in user_items]).update(outbox=row)
                outbox_ids.append(row.pk)
                built += 1
            if outbox_ids:
                from portal.notifications import _delivery_buffer, enqueue_delivery

                transaction.on_commit(lambda ids=outbox_ids, buf=_delivery_buffer.get(): enqueue_delivery(ids, buf))
