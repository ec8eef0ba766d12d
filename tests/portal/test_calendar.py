"""The private calendar feed (ICS): the user's deadlines at a secret, revocable URL."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from portal import calendar, deadlines
from portal.deadlines import DeadlineKind
from portal.models import CalendarFeed, hash_secret
from tests import factories as f

pytestmark = pytest.mark.django_db

deadlines.register(DeadlineKind("test_calendar_kind", (), title="Calendar test deadline"))


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"


@pytest.fixture
def application(org, org_admin):
    from certification.framework.models import Benchmark, FrameworkVersion
    from certification.framework.seed import seed_framework
    from tests.certification.factories import submitted_application

    seed_framework(FrameworkVersion, Benchmark)
    app = submitted_application(org, org_admin)
    deadlines.open_deadline(app, "changes_requested", datetime(2026, 6, 1, 12, 0, tzinfo=UTC))
    return app


def feed_url(client) -> str:
    page = client.post("/account/calendar/", {"action": "create"})
    assert page.status_code == 200
    return re.search(rb'id="feed-url">https?://[^/]+(/calendar/[^<]+)<', page.content).group(1).decode()


def test_the_feed_lists_the_organizations_deadlines_and_only_theirs(client_for, application, org_member,
                                                                     other_member):
    url = feed_url(client_for(org_member))
    client_for(other_member)  # the feed needs no session: calendar apps cannot log in
    response = client_for(other_member).get(url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    body = response.content.decode()
    assert body.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n") and body.endswith("END:VCALENDAR\r\n")
    assert "DTSTART:20260601T120000Z" in body
    assert "SUMMARY:Changes requested by staff: Application #" in body
    assert all(len(line.encode()) <= 75 for line in body.split("\r\n"))

    # Another organization's member sees none of it in their own feed.
    other_feed = client_for(other_member).get(feed_url(client_for(other_member))).content.decode()
    assert "BEGIN:VEVENT" not in other_feed


def test_staff_see_the_applications_they_own(client_for, application, staff):
    from certification.releases import applications

    applications.start_screening(application, staff)
    body = client_for(staff).get(feed_url(client_for(staff))).content.decode()
    assert body.count("BEGIN:VEVENT") == 1


def test_the_token_is_stored_hashed_and_a_new_one_revokes_the_old(client_for, org_member):
    client = client_for(org_member)
    first = feed_url(client)
    raw = first.rsplit("/", 1)[1].removesuffix(".ics")
    assert CalendarFeed.objects.get(user=org_member).token_hash == hash_secret(raw)
    assert not CalendarFeed.objects.filter(token_hash=raw).exists()
    second = feed_url(client)
    assert client.get(first).status_code == 404
    assert client.get(second).status_code == 200
    client.post("/account/calendar/", {"action": "revoke"})
    assert client.get(second).status_code == 404
    assert not CalendarFeed.objects.filter(user=org_member).exists()


def test_a_deactivated_users_feed_stops_working(client_for, org_member):
    url = feed_url(client_for(org_member))
    org_member.is_active = False
    org_member.save(update_fields=["is_active"])
    assert client_for(f.UserFactory()).get(url).status_code == 404


def test_other_apps_add_their_deadlines_with_a_provider(client_for, org_member, monkeypatch):
    from portal.models import User

    d = deadlines.open_deadline(org_member, "test_calendar_kind", datetime(2026, 7, 1, tzinfo=UTC))
    monkeypatch.setattr(calendar, "PROVIDERS", [*calendar.PROVIDERS,
                                                lambda user: calendar.deadlines_of(User.objects.filter(pk=user.pk))])
    assert list(calendar.user_deadlines(org_member)) == [d]
    body = calendar.render_ics(org_member, calendar.user_deadlines(org_member))
    assert "SUMMARY:Calendar test deadline" in body
    deadlines.close_deadlines(org_member, "test_calendar_kind")
    assert list(calendar.user_deadlines(org_member)) == []


def test_long_and_special_text_is_escaped_and_folded():
    line = "SUMMARY:" + calendar._escape("Réf; a, b\\c\n" + "é" * 60)
    folded = calendar._fold(line)
    assert "\\;" in line and "\\," in line and "\\\\" in line and "\\n" in line
    parts = folded.split("\r\n ")
    assert len(parts) > 1 and all(len(p.encode()) <= 75 for p in parts)
    assert "".join(parts) == line
