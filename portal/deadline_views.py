"""Pages of the deadline engine: notification settings (immediate or daily digest),
the private calendar feed and its management, and the staff overview of
upcoming and overdue deadlines."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal import calendar, deadlines, digests
from portal.models import CalendarFeed, Deadline, NotificationPreference
from portal.views import staff_required

# --- notification settings -------------------------------------------------------------


@login_required
def notification_settings(request: HttpRequest) -> HttpResponse:
    """Per kind: email at once, or in the daily digest. In-app notifications always appear."""
    kinds = digests.choosable_kinds()
    current = digests.preferences(request.user)
    if request.method == "POST":
        choices = {kind: request.POST.get(f"kind-{kind}", "") for kind, _label in kinds}
        changed = digests.set_preferences(request.user, {k: v for k, v in choices.items() if v})
        if changed:
            messages.success(request, _("Notification settings saved."))
        else:
            messages.info(request, _("Nothing changed."))
        return redirect("portal:notification-settings")
    rows = [{"kind": kind, "label": label, "delivery": current[kind]} for kind, label in kinds]
    return render(request, "portal/notification_settings.html", {
        "rows": rows, "choices": NotificationPreference.Delivery.choices,
    })


# --- calendar feed -------------------------------------------------------------------------


@login_required
@never_cache
def calendar_settings(request: HttpRequest) -> HttpResponse:
    """The user's deadlines and their private feed. The new URL is shown in the
    response to the POST only: the token is stored hashed."""
    feed_url = None
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "create":
            raw = calendar.create_feed(request.user, request=request)
            feed_url = request.build_absolute_uri(reverse("portal:calendar-feed", args=[raw]))
        elif action == "revoke":
            if calendar.revoke_feed(request.user, request=request):
                messages.success(request, _("Calendar feed revoked: its address no longer works."))
            return redirect("portal:calendar-settings")
    feed = CalendarFeed.objects.filter(user=request.user).first()
    rows = calendar.load_targets(calendar.user_deadlines(request.user)[:200])
    return render(request, "portal/deadlines_calendar.html", {
        "feed": feed, "feed_url": feed_url, "rows": _display(rows), "now": timezone.now(),
    })


@require_GET
@never_cache
def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    """The ICS feed. Anyone with the secret URL may read it (calendar apps cannot log in)."""
    feed = calendar.feed_for_token(token)
    if feed is None:
        raise Http404
    CalendarFeed.objects.filter(pk=feed.pk).update(last_used_at=timezone.now())
    body = calendar.render_ics(feed.user, calendar.user_deadlines(feed.user))
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="deadlines.ics"'
    response["X-Robots-Tag"] = "noindex"
    return response


# --- staff overview -----------------------------------------------------------------------

STATE_CHOICES = [
    ("", gettext_lazy("Upcoming and overdue")),
    ("upcoming", gettext_lazy("Upcoming")),
    ("overdue", gettext_lazy("Overdue")),
    ("closed", gettext_lazy("Done, cancelled or moved on")),
]


class DeadlineFilterForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), required=False)
    state = forms.ChoiceField(label=gettext_lazy("State"), required=False, choices=STATE_CHOICES)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        names = sorted(deadlines.registered_kinds())
        self.fields["kind"].choices = [("", _("All kinds"))] + [(n, deadlines.kind_title(n)) for n in names]


def moved_on_ids(now, kind: str = "") -> list[int]:
    """Deadlines past due whose object is no longer in the state the deadline is about (a certificate
    that expired, an application that lapsed, a report filed): history, not overdue work. One query
    for the rows, one per kind of object, and whatever the kinds' ``pending`` checks read."""
    judged = [name for name, k in deadlines.registered_kinds().items() if k.pending is not None]
    qs = Deadline.objects.filter(Q(state=Deadline.State.PASSED) | Q(state=Deadline.State.OPEN, due_at__lte=now),
                                 kind__in=judged)
    if kind:
        qs = qs.filter(kind=kind)
    return [d.pk for d in calendar.load_targets(qs) if not deadlines.is_pending(d, d.target)]


def filter_deadlines(qs, kind: str, state: str, now):
    if kind:
        qs = qs.filter(kind=kind)
    overdue = Q(state=Deadline.State.PASSED) | Q(state=Deadline.State.OPEN, due_at__lte=now)
    if state == "upcoming":
        return qs.filter(state=Deadline.State.OPEN, due_at__gt=now)
    moved_on = moved_on_ids(now, kind)
    if state == "closed":
        return qs.filter(Q(state__in=[Deadline.State.DONE, Deadline.State.CANCELLED]) | Q(pk__in=moved_on))
    if state == "overdue":
        qs = qs.filter(overdue)
    else:
        qs = qs.filter(state__in=[Deadline.State.OPEN, Deadline.State.PASSED])
    return qs.exclude(pk__in=moved_on)


def _display(rows: list[Deadline]) -> list[dict]:
    now = timezone.now()
    return [{
        "deadline": d,
        "title": deadlines.kind_title(d.kind),
        "target": d.target,
        "url": deadlines.target_url(d, d.target) if d.target is not None else "",
        "overdue": (d.state == Deadline.State.PASSED or (d.state == Deadline.State.OPEN and d.due_at <= now))
        and deadlines.is_pending(d, d.target),
        "moved_on": d.due_at <= now and d.state in (Deadline.State.OPEN, Deadline.State.PASSED)
        and not deadlines.is_pending(d, d.target),
    } for d in rows]


@staff_required
@require_GET
def staff_deadlines(request: HttpRequest) -> HttpResponse:
    """Every deadline of the portal, soonest first. Queries: the filter's kinds, the
    count, the page, then one per kind of object on the page."""
    now = timezone.now()
    form = DeadlineFilterForm(request.GET or None)
    kind = state = ""
    if form.is_valid():
        kind, state = form.cleaned_data["kind"], form.cleaned_data["state"]
    qs = filter_deadlines(Deadline.objects.select_related("content_type"), kind, state, now)
    qs = qs.order_by("-due_at", "-id") if state == "closed" else qs.order_by("due_at", "id")
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    rows = _display(calendar.load_targets(page.object_list))
    return render(request, "portal/deadlines_staff.html", {"form": form, "page": page, "rows": rows, "now": now})
