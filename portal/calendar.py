"""Private calendar feeds (ICS, RFC 5545) of a user's deadlines.

Whose deadlines are a user's is answered by ``PROVIDERS``: functions that take a
user and return a ``Q`` over ``Deadline`` (or ``None``). Apps append their own:

    from portal import calendar
    calendar.PROVIDERS.append(lambda user: calendar.deadlines_of(MyModel.objects.filter(owner=user)))

The feed lives at a secret URL; only the sha256 of its token is stored, and
generating a new one replaces it, which revokes the old URL at once. The feed
itself is written with the ``icalendar`` library (escaping, line folding, UTC times).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from django.apps import apps
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from icalendar import Calendar, Event, vText
from icalendar.parser import Contentline

from portal import audit, deadlines
from portal.models import CalendarFeed, Deadline, User, hash_secret

Provider = Callable[[User], Q | None]

PROVIDERS: list[Provider] = []


def deadlines_of(queryset: models.QuerySet) -> Q:
    """Deadlines attached to the rows of ``queryset``."""
    ct = ContentType.objects.get_for_model(queryset.model)
    return Q(content_type=ct, object_id__in=queryset.values("pk"))


def _model(label: str):
    try:
        return apps.get_model(label)
    except LookupError:
        return None


def _applications(user: User):
    Application = _model("certification.Application")
    if Application is None:
        return None
    # Applications they own as staff, and their organizations' applications.
    return Application.objects.filter(
        Q(owner=user) | Q(release__ai_model__organization__memberships__user=user)
    )


def application_deadlines(user: User) -> Q | None:
    apps_qs = _applications(user)
    if apps_qs is None:
        return None
    q = deadlines_of(apps_qs)
    # Deadlines of objects that belong to those applications (appeal, review window, certificate).
    for label in ("certification.Appeal", "certification.ReviewWindow", "certification.Certificate"):
        model = _model(label)
        if model is not None:
            q |= deadlines_of(model.objects.filter(application__in=apps_qs.values("pk")))
    Finding = _model("certification.Finding")
    if Finding is not None and any(f.name == "window" for f in Finding._meta.get_fields()):
        q |= deadlines_of(Finding.objects.filter(window__application__in=apps_qs.values("pk")))
    return q


def auditor_deadlines(user: User) -> Q | None:
    q = Q(pk__in=[])
    for label in ("auditors.Offer", "auditors.Engagement"):
        model = _model(label)
        if model is not None:
            q |= deadlines_of(model.objects.filter(accreditation__user=user))
    Accreditation = _model("auditors.Accreditation")
    if Accreditation is not None:
        q |= deadlines_of(Accreditation.objects.filter(user=user))
    ReviewWindow = _model("certification.ReviewWindow")
    if ReviewWindow is not None:
        q |= deadlines_of(ReviewWindow.objects.filter(enrolments__user=user, enrolments__withdrawn_at__isnull=True))
    return q


PROVIDERS += [application_deadlines, auditor_deadlines]


def user_deadlines(user: User, include_closed: bool = False) -> models.QuerySet:
    """Every deadline of the user, from all providers."""
    q = Q(pk__in=[])
    for provider in PROVIDERS:
        part = provider(user)
        if part is not None:
            q |= part
    qs = Deadline.objects.filter(q)
    if not include_closed:
        qs = qs.filter(state__in=[Deadline.State.OPEN, Deadline.State.PASSED])
    return qs.select_related("content_type").order_by("due_at", "id")


def load_targets(rows: Iterable[Deadline]) -> list[Deadline]:
    """Fetch the deadlines' objects with one query per content type (not one per row)."""
    rows = list(rows)
    by_type: dict[int, set[int]] = {}
    for d in rows:
        by_type.setdefault(d.content_type_id, set()).add(d.object_id)
    objects = {}
    for ct_id, ids in by_type.items():
        model = ContentType.objects.get_for_id(ct_id).model_class()
        if model is not None:
            objects[ct_id] = model._default_manager.in_bulk(ids)
    for d in rows:
        target = objects.get(d.content_type_id, {}).get(d.object_id)
        d.__dict__["target"] = target  # fills the cached_property
    return rows


# --- feed tokens ---------------------------------------------------------------------------


def create_feed(user: User, request=None) -> str:
    """A new secret token for the user's feed; the previous URL stops working."""
    raw = secrets.token_urlsafe(32)
    with transaction.atomic():
        CalendarFeed.objects.update_or_create(
            user=user, defaults={"token_hash": hash_secret(raw), "created_at": timezone.now(), "last_used_at": None}
        )
        audit.log("portal.calendar_feed.created", actor=user, obj=user, request=request)
    return raw


def revoke_feed(user: User, request=None) -> bool:
    with transaction.atomic():
        deleted, _ = CalendarFeed.objects.filter(user=user).delete()
        if deleted:
            audit.log("portal.calendar_feed.revoked", actor=user, obj=user, request=request)
    return bool(deleted)


def feed_for_token(raw: str) -> CalendarFeed | None:
    feed = CalendarFeed.objects.select_related("user").filter(token_hash=hash_secret(raw)).first()
    if feed is None or not feed.user.is_active:
        return None
    return feed


# --- ICS ---------------------------------------------------------------------------------


def _escape(text: str) -> str:
    """A TEXT value escaped as icalendar writes it (RFC 5545 §3.3.11)."""
    return vText(str(text)).to_ical().decode()


def _fold(line: str) -> str:
    """A content line folded as icalendar writes it (RFC 5545 §3.1: at most 75 octets a line)."""
    return Contentline(line).to_ical().decode()


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def render_ics(user: User, rows: Iterable[Deadline], now: datetime | None = None) -> str:
    now = now or timezone.now()
    host = settings.SITE_URL.split("://", 1)[-1].split("/", 1)[0] or "portal"
    cal = Calendar()
    cal.add("version", "2.0")
    cal.add("prodid", "-//Certification Portal//Deadlines//EN")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    # An X- property is written raw unless given as TEXT: vText escapes it like SUMMARY.
    cal.add("x-wr-calname", vText(f"{settings.SITE_NAME}: deadlines"))
    for d in load_targets(rows):
        title = deadlines.kind_title(d.kind)
        summary = f"{title}: {d.target}" if d.target is not None else title
        url = deadlines.target_url(d, d.target) if d.target is not None else ""
        event = Event()
        event.add("uid", f"deadline-{d.pk}@{host}")
        event.add("dtstamp", _utc(now))
        event.add("dtstart", _utc(d.due_at))
        event.add("dtend", _utc(d.due_at + timedelta(minutes=30)))
        event.add("summary", summary)
        event.add("description", str(d.get_state_display()))
        event.add("transp", "TRANSPARENT")
        if url:
            event.add("url", f"{settings.SITE_URL}{url}")
        cal.add_component(event)
    return cal.to_ical(sorted=False).decode()  # properties in the order added above
