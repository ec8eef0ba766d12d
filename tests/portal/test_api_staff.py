"""The staff API of the portal app (issue 14): the deadlines overview of ``/staff/deadlines/`` with
its filters, and the staff check every staff operation shares (``portal.api_staff``)."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from certification.releases import applications
from portal import deadlines
from portal.models import ApiToken, Deadline, hash_secret
from tests.certification.factories import submitted_application

URL = "/api/v1/staff/deadlines/"
_names = itertools.count()


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"


def token(user, *scopes: str) -> dict:
    raw = ApiToken.generate_key()
    ApiToken.objects.create(user=user, name=f"t{next(_names)}", key_hash=hash_secret(raw), hint=raw[:10],
                            scopes=list(scopes))
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


@pytest.fixture
def changes_requested(framework, org, org_admin, staff):
    """An application waiting for the organization's changes: an open ``changes_requested`` deadline."""
    app = submitted_application(org, org_admin)
    applications.start_screening(app, staff)
    applications.request_changes(app, staff, {"model_card": "Say what it is for."})
    return app


def rows(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_staff_list_deadlines_with_the_pages_filters(changes_requested, staff):
    api, headers = Client(), token(staff, "read", "staff")
    deadline = Deadline.objects.get(kind="changes_requested", object_id=changes_requested.pk)
    listed = rows(api.get(URL, **headers))
    row = next(r for r in listed if r["id"] == deadline.pk)
    assert row["title"] == deadlines.kind_title("changes_requested") != "changes_requested"
    assert row["url"] == f"/applications/{changes_requested.pk}/"
    assert row["state"] == "open" and not row["overdue"] and not row["moved_on"]
    assert str(changes_requested) == row["object"]

    assert [r["kind"] for r in rows(api.get(URL, {"kind": "changes_requested"}, **headers))] == ["changes_requested"]
    assert deadline.pk in [r["id"] for r in rows(api.get(URL, {"state": "upcoming"}, **headers))]
    assert deadline.pk not in [r["id"] for r in rows(api.get(URL, {"state": "overdue"}, **headers))]
    assert deadline.pk not in [r["id"] for r in rows(api.get(URL, {"state": "closed"}, **headers))]

    Deadline.objects.filter(pk=deadline.pk).update(due_at=timezone.now() - timedelta(days=1))
    overdue = rows(api.get(URL, {"state": "overdue"}, **headers))
    assert [(r["id"], r["overdue"]) for r in overdue if r["id"] == deadline.pk] == [(deadline.pk, True)]


def test_closed_deadlines_come_latest_first(changes_requested, staff, client):
    now = timezone.now()
    app = changes_requested
    Deadline.objects.filter(object_id=app.pk).update(state=Deadline.State.DONE)
    first = Deadline.objects.filter(object_id=app.pk).first()
    later = Deadline.objects.create(content_type=first.content_type, object_id=app.pk, kind=first.kind,
                                    due_at=now + timedelta(days=3), state=Deadline.State.CANCELLED)
    Deadline.objects.filter(pk=first.pk).update(due_at=now + timedelta(days=1))
    client.force_login(staff)
    ids = [r["id"] for r in rows(client.get(URL, {"state": "closed"}))]
    assert ids.index(later.pk) < ids.index(first.pk)
    assert later.pk not in [r["id"] for r in rows(client.get(URL))]


def test_deadline_filter_errors_name_the_parameter(framework, client, staff):
    client.force_login(staff)
    for params, field in [({"kind": "no_such_kind"}, "kind"), ({"state": "late"}, "state")]:
        response = client.get(URL, params)
        assert response.status_code == 400 and set(response.json()) == {field}, response.content


def test_deadlines_are_for_staff_only(changes_requested, org_admin, org_member, auditor, evaluator, staff):
    for user in (org_admin, org_member, auditor, evaluator):
        session = Client()
        session.force_login(user)
        assert session.get(URL).status_code == 403
        # Even a token that claims the staff scope: the account is not staff.
        assert Client().get(URL, **token(user, "read", "staff")).status_code == 403
    assert Client().get(URL).status_code == 401


def test_a_staff_read_needs_the_staff_scope(framework, staff):
    refused = Client().get(URL, **token(staff, "read", "write"))
    assert refused.status_code == 403 and "staff" in refused.json()["detail"]
    assert Client().get(URL, **token(staff, "staff")).status_code == 200


def test_staff_without_two_factor_are_refused(framework):
    from tests import factories as f

    staff = f.make_staff(mfa=False)
    client = Client()
    client.force_login(staff)
    assert client.get(URL).status_code == 403
