"""The organization, invitation and notification API (/api/v1/...)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from portal import audit, organizations
from portal.models import ApiToken, AuditEntry, Invitation, Membership, Notification, Organization, hash_secret
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    def as_user(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return as_user


# --- organizations ---------------------------------------------------------------------


def test_anonymous_is_refused(api, org):
    assert api().get("/api/v1/organizations/").status_code in (401, 403)


def test_personal_token_authenticates(org, org_member):
    key = ApiToken.generate_key()
    ApiToken.objects.create(user=org_member, name="ci", key_hash=hash_secret(key), hint=key[:10])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = client.get("/api/v1/organizations/")
    assert response.status_code == 200
    assert [o["slug"] for o in response.json()["results"]] == ["acme"]


def test_list_shows_only_own_organizations_with_role(api, org, other_org, org_member):
    response = api(org_member).get("/api/v1/organizations/")
    assert response.status_code == 200
    body = response.json()
    assert [(o["slug"], o["role"]) for o in body["results"]] == [("acme", "member")]
    assert body["next"] is None


def test_staff_list_all_organizations(api, org, other_org, staff):
    slugs = [o["slug"] for o in api(staff).get("/api/v1/organizations/").json()["results"]]
    assert slugs == ["acme", "rival"]


def test_create_makes_creator_admin(api):
    user = f.UserFactory()
    response = api(user).post(
        "/api/v1/organizations/", {"name": "Open Weights Co", "country": "de", "website": "ow.example"}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["slug"] == "open-weights-co"
    assert body["role"] == "admin"
    assert body["country"] == "DE"
    assert body["website"] == "https://ow.example"
    org = Organization.objects.get(slug="open-weights-co")
    assert Membership.objects.get(organization=org, user=user).role == "admin"
    assert AuditEntry.objects.filter(action="portal.organization.created", organization=org).exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "X", "country": "F1"}, "country"),
        ({"name": "X", "country": "FRA"}, "country"),
        ({"name": "X", "website": "not a url"}, "website"),
        ({"name": "X" * 201}, "name"),
    ],
)
def test_create_with_bad_input_is_400_naming_the_field(api, payload, field):
    response = api(f.UserFactory()).post("/api/v1/organizations/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert not Organization.objects.exists()


def test_non_staff_creating_with_alliance_membership_changes_nothing(api):
    response = api(f.UserFactory()).post(
        "/api/v1/organizations/", {"name": "Sneaky", "is_alliance_member": True}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["is_alliance_member"] is False
    assert Organization.objects.get(name="Sneaky").is_alliance_member is False


def test_admin_updates_profile(api, org, org_admin):
    response = api(org_admin).patch("/api/v1/organizations/acme/", {"legal_name": "Acme AI SAS"}, format="json")
    assert response.status_code == 200
    assert response.json()["legal_name"] == "Acme AI SAS"
    org.refresh_from_db()
    assert org.legal_name == "Acme AI SAS"
    assert org.name == "Acme AI"
    assert AuditEntry.objects.get(action="portal.organization.updated").payload == {"fields": ["legal_name"]}


def test_update_with_bad_input_is_400_naming_the_field(api, org, org_admin):
    response = api(org_admin).patch("/api/v1/organizations/acme/", {"country": "12"}, format="json")
    assert response.status_code == 400
    assert "two-letter" in response.json()["country"][0]
    org.refresh_from_db()
    assert org.country == "FR"


def test_member_cannot_update_profile(api, org, org_member):
    response = api(org_member).patch("/api/v1/organizations/acme/", {"name": "Hijacked"}, format="json")
    assert response.status_code == 403
    # Refused before validation: bad input does not turn the 403 into a 400.
    assert api(org_member).patch("/api/v1/organizations/acme/", {"country": "12"}, format="json").status_code == 403
    org.refresh_from_db()
    assert org.name == "Acme AI"


def test_other_org_gets_404(api, org, org_admin, other_member):
    client = api(other_member)
    assert client.get("/api/v1/organizations/acme/").status_code == 404
    assert client.patch("/api/v1/organizations/acme/", {"name": "Hijacked"}, format="json").status_code == 404
    assert client.get("/api/v1/organizations/acme/members/").status_code == 404
    assert client.get("/api/v1/organizations/acme/invitations/").status_code == 404
    assert client.get("/api/v1/organizations/acme/audit/").status_code == 404
    admin_m = Membership.objects.get(user=org_admin)
    assert client.delete(f"/api/v1/organizations/acme/members/{admin_m.pk}/").status_code == 404
    # Nor through one's own organization's URL.
    assert client.patch(f"/api/v1/organizations/rival/members/{admin_m.pk}/", {"role": "member"}, format="json").status_code == 404
    assert Membership.objects.filter(pk=admin_m.pk, role="admin").exists()


def test_org_admin_cannot_set_alliance_membership(api, org, org_admin):
    response = api(org_admin).patch("/api/v1/organizations/acme/", {"is_alliance_member": True}, format="json")
    assert response.status_code == 200
    assert response.json()["is_alliance_member"] is False
    org.refresh_from_db()
    assert org.is_alliance_member is False


def test_staff_sets_alliance_membership(api, org, staff):
    response = api(staff).patch("/api/v1/organizations/acme/", {"is_alliance_member": True}, format="json")
    assert response.status_code == 200
    org.refresh_from_db()
    assert org.is_alliance_member is True


def test_staff_without_mfa_is_refused(api, org):
    staff = f.make_staff(mfa=False)
    assert api(staff).get("/api/v1/organizations/").status_code == 403


# --- members ---------------------------------------------------------------------------


def test_members_are_listed_to_members(api, org, org_admin, org_member):
    response = api(org_member).get("/api/v1/organizations/acme/members/")
    assert response.status_code == 200
    assert sorted((m["email"], m["role"]) for m in response.json()) == sorted(
        [(org_admin.email, "admin"), (org_member.email, "member")]
    )


def test_admin_changes_role(api, org, org_admin, org_member):
    m = Membership.objects.get(user=org_member)
    response = api(org_admin).patch(f"/api/v1/organizations/acme/members/{m.pk}/", {"role": "admin"}, format="json")
    assert response.status_code == 200
    assert response.json()["role"] == "admin"
    assert AuditEntry.objects.filter(action="portal.organization.member_role_changed").exists()


def test_unknown_role_is_400_naming_role(api, org, org_admin, org_member):
    m = Membership.objects.get(user=org_member)
    response = api(org_admin).patch(f"/api/v1/organizations/acme/members/{m.pk}/", {"role": "owner"}, format="json")
    assert response.status_code == 400
    assert "role" in response.json()


def test_member_cannot_change_roles(api, org, org_admin, org_member):
    m = Membership.objects.get(user=org_member)
    response = api(org_member).patch(f"/api/v1/organizations/acme/members/{m.pk}/", {"role": "admin"}, format="json")
    assert response.status_code == 403
    m.refresh_from_db()
    assert m.role == "member"


def test_last_admin_cannot_be_demoted(api, org, org_admin, org_member):
    m = Membership.objects.get(user=org_admin)
    response = api(org_admin).patch(f"/api/v1/organizations/acme/members/{m.pk}/", {"role": "member"}, format="json")
    assert response.status_code == 400
    assert "at least one admin" in response.json()["role"][0]
    m.refresh_from_db()
    assert m.role == "admin"


def test_last_admin_cannot_leave(api, org, org_admin, org_member):
    m = Membership.objects.get(user=org_admin)
    response = api(org_admin).delete(f"/api/v1/organizations/acme/members/{m.pk}/")
    assert response.status_code == 400
    assert "last admin" in response.json()["non_field_errors"][0]
    assert Membership.objects.filter(pk=m.pk).exists()


def test_last_admin_cannot_be_removed_by_another_admin_demoted_meanwhile(api, org, org_admin):
    second = f.MembershipFactory(organization=org, role="admin")
    first = Membership.objects.get(user=org_admin)
    # The second admin demotes themselves; the first is now the last admin.
    assert api(second.user).patch(f"/api/v1/organizations/acme/members/{second.pk}/", {"role": "member"}, format="json").status_code == 200
    assert api(second.user).delete(f"/api/v1/organizations/acme/members/{first.pk}/").status_code == 403
    assert api(org_admin).delete(f"/api/v1/organizations/acme/members/{first.pk}/").status_code == 400
    assert Membership.objects.filter(pk=first.pk, role="admin").exists()


def test_admin_removes_member_and_member_leaves(api, org, org_admin, org_member):
    other = f.MembershipFactory(organization=org, role="member")
    m = Membership.objects.get(user=org_member)
    assert api(org_member).delete(f"/api/v1/organizations/acme/members/{other.pk}/").status_code == 403
    assert api(org_admin).delete(f"/api/v1/organizations/acme/members/{other.pk}/").status_code == 204
    assert api(org_member).delete(f"/api/v1/organizations/acme/members/{m.pk}/").status_code == 204
    assert list(Membership.objects.filter(organization=org).values_list("user", flat=True)) == [org_admin.pk]
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"portal.organization.member_removed", "portal.organization.member_left"} <= actions


# --- invitations -----------------------------------------------------------------------


def test_admin_invites_lists_and_revokes(api, org, org_admin):
    client = api(org_admin)
    response = client.post("/api/v1/organizations/acme/invitations/", {"email": "a@example.org", "role": "admin"}, format="json")
    assert response.status_code == 201
    inv_id = response.json()["id"]
    assert [i["email"] for i in client.get("/api/v1/organizations/acme/invitations/").json()] == ["a@example.org"]
    assert client.delete(f"/api/v1/organizations/acme/invitations/{inv_id}/").status_code == 204
    assert client.get("/api/v1/organizations/acme/invitations/").json() == []
    assert client.delete(f"/api/v1/organizations/acme/invitations/{inv_id}/").status_code == 400
    assert Invitation.objects.get(pk=inv_id).revoked_at is not None


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"email": "not-an-email"}, "email"), ({}, "email"), ({"email": "a@example.org", "role": "owner"}, "role")],
)
def test_invite_bad_input_is_400_naming_the_field(api, org, org_admin, payload, field):
    response = api(org_admin).post("/api/v1/organizations/acme/invitations/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Invitation.objects.exists()


def test_invite_existing_member_is_400_on_email(api, org, org_admin, org_member):
    response = api(org_admin).post("/api/v1/organizations/acme/invitations/", {"email": org_member.email}, format="json")
    assert response.status_code == 400
    assert "already a member" in response.json()["email"][0]


def test_member_cannot_invite(api, org, org_member):
    response = api(org_member).post("/api/v1/organizations/acme/invitations/", {"email": "a@example.org"}, format="json")
    assert response.status_code == 403
    assert not Invitation.objects.exists()


def test_accept_invitation_through_api(api, org, org_admin):
    _, token = organizations.invite(org, org_admin, "joiner@example.org", "member")
    joiner = f.UserFactory(email="joiner@example.org")
    intruder = f.UserFactory(email="intruder@example.org")
    response = api(intruder).post("/api/v1/invitations/accept/", {"token": token}, format="json")
    assert response.status_code == 400
    assert "token" in response.json()
    assert api(joiner).post("/api/v1/invitations/accept/", {"token": token + "x"}, format="json").status_code == 400
    response = api(joiner).post("/api/v1/invitations/accept/", {"token": token}, format="json")
    assert response.status_code == 201
    assert response.json()["role"] == "member"
    assert api(joiner).post("/api/v1/invitations/accept/", {"token": token}, format="json").status_code == 400
    assert Membership.objects.filter(organization=org).count() == 2
    assert not Membership.objects.filter(user=intruder).exists()


# --- audit -------------------------------------------------------------------------------


def test_admin_reads_redacted_audit_log(api, org, org_admin, org_member, staff):
    audit.log("portal.test.staff_action", actor=staff, organization=org, payload={"note": "ok", "staff_only": "conflict"})
    response = api(org_admin).get("/api/v1/organizations/acme/audit/")
    assert response.status_code == 200
    entry = response.json()["results"][0]
    assert entry["action"] == "portal.test.staff_action"
    assert entry["actor"] == "Alliance staff"
    assert entry["payload"] == {"note": "ok"}
    assert api(org_member).get("/api/v1/organizations/acme/audit/").status_code == 403


# --- notifications ---------------------------------------------------------------------


def test_notifications_are_listed_and_marked_read(api, org_member, other_member):
    mine = Notification.objects.create(user=org_member, kind="test", subject="Mine", body="b")
    older = Notification.objects.create(
        user=org_member, kind="test", subject="Older", body="b", created_at=mine.created_at - timedelta(hours=1)
    )
    theirs = Notification.objects.create(user=other_member, kind="test", subject="Theirs", body="b")
    client = api(org_member)
    body = client.get("/api/v1/notifications/").json()
    assert [n["subject"] for n in body["results"]] == ["Mine", "Older"]
    assert client.get("/api/v1/notifications/unread-count/").json() == {"unread": 2}

    assert client.post(f"/api/v1/notifications/{mine.pk}/read/").status_code == 204
    mine.refresh_from_db()
    assert mine.read_at is not None
    assert client.get("/api/v1/notifications/unread-count/").json() == {"unread": 1}
    # Marking again keeps the first read time.
    first_read = mine.read_at
    client.post(f"/api/v1/notifications/{mine.pk}/read/")
    mine.refresh_from_db()
    assert mine.read_at == first_read

    assert client.post(f"/api/v1/notifications/{theirs.pk}/read/").status_code == 404
    assert client.get(f"/api/v1/notifications/{theirs.pk}/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None

    assert client.post("/api/v1/notifications/read-all/").status_code == 204
    older.refresh_from_db()
    assert older.read_at is not None
    assert Notification.objects.get(pk=theirs.pk).read_at is None


def test_notification_list_paginates_with_cursor(api, org_member, monkeypatch):
    from portal.api import NotificationPagination

    monkeypatch.setattr(NotificationPagination, "page_size", 2)
    for i in range(5):
        Notification.objects.create(user=org_member, kind="test", subject=f"n{i}", body="b")
    client = api(org_member)
    seen, url = [], "/api/v1/notifications/"
    while url:
        body = client.get(url).json()
        seen += [n["subject"] for n in body["results"]]
        url = body["next"]
    assert seen == ["n4", "n3", "n2", "n1", "n0"]


def test_schema_documents_the_portal_api(client, db):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    schema = response.content.decode()
    for path in ("/api/v1/organizations/{slug}/members/{member_id}/", "/api/v1/notifications/{id}/read/",
                 "/api/v1/invitations/accept/", "/api/v1/organizations/{slug}/audit/"):
        assert path in schema
