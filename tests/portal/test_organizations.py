"""Organizations in the browser: create, profile, roles, removal, leaving, switching."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages

from portal import organizations
from portal.models import AuditEntry, Membership, Organization
from tests import factories as f

pytestmark = pytest.mark.django_db


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- create ---------------------------------------------------------------------------


def test_creator_becomes_admin_of_new_organization(client_for):
    user = f.UserFactory()
    client = client_for(user)
    response = client.post("/organizations/new/", {"name": "Deep Thought Labs", "country": "gb", "website": "dt.example"})
    org = Organization.objects.get(name="Deep Thought Labs")
    assert response.status_code == 302
    assert response["Location"] == f"/organizations/{org.slug}/members/"
    assert org.slug == "deep-thought-labs"
    assert org.country == "GB"
    assert org.website == "https://dt.example"
    assert Membership.objects.get(organization=org, user=user).role == "admin"
    entry = AuditEntry.objects.get(action="portal.organization.created")
    assert (entry.actor, entry.organization, entry.ip) == (user, org, "127.0.0.1")


def test_create_organization_with_taken_name_gets_a_distinct_slug(client_for, org):
    client_for(f.UserFactory()).post("/organizations/new/", {"name": "Acme"})
    assert Organization.objects.filter(slug__startswith="acme").count() == 2
    assert Organization.objects.filter(slug="acme-2").exists()


def test_create_organization_with_bad_country_shows_error_and_creates_nothing(client_for):
    response = client_for(f.UserFactory()).post("/organizations/new/", {"name": "X", "country": "F1"})
    assert response.status_code == 200
    assert "two-letter ISO 3166" in response.content.decode()
    assert not Organization.objects.filter(name="X").exists()


def test_non_staff_cannot_set_alliance_membership_when_creating(db):
    user = f.UserFactory()
    org = organizations.create_organization(user, name="Sneaky", is_alliance_member=True)
    org.refresh_from_db()
    assert org.is_alliance_member is False


# --- profile ------------------------------------------------------------------------------


def test_admin_edits_profile(client_for, org, org_admin):
    response = client_for(org_admin).post(
        "/organizations/acme/", {"name": "Acme AI", "legal_name": "Acme AI SAS", "website": "", "country": "FR"}
    )
    assert response.status_code == 302
    org.refresh_from_db()
    assert org.legal_name == "Acme AI SAS"
    entry = AuditEntry.objects.get(action="portal.organization.updated")
    assert entry.payload == {"fields": ["legal_name"]}
    assert entry.organization == org


def test_member_cannot_edit_profile(client_for, org, org_member):
    client = client_for(org_member)
    assert client.get("/organizations/acme/").status_code == 200
    response = client.post("/organizations/acme/", {"name": "Hijacked", "country": "FR"})
    assert response.status_code == 403
    org.refresh_from_db()
    assert org.name == "Acme AI"


def test_other_org_gets_404_on_profile(client_for, org, other_member):
    client = client_for(other_member)
    assert client.get("/organizations/acme/").status_code == 404
    assert client.post("/organizations/acme/", {"name": "Hijacked", "country": "FR"}).status_code == 404
    org.refresh_from_db()
    assert org.name == "Acme AI"


def test_org_admin_posting_alliance_membership_changes_nothing(client_for, org, org_admin):
    client_for(org_admin).post(
        "/organizations/acme/", {"name": "Acme AI", "country": "FR", "is_alliance_member": "on"}
    )
    org.refresh_from_db()
    assert org.is_alliance_member is False


def test_staff_sets_alliance_membership(client_for, org, staff):
    response = client_for(staff).post(
        "/organizations/acme/", {"name": "Acme AI", "country": "FR", "is_alliance_member": "on"}
    )
    assert response.status_code == 302
    org.refresh_from_db()
    assert org.is_alliance_member is True
    entry = AuditEntry.objects.get(action="portal.organization.updated")
    assert entry.payload == {"fields": ["is_alliance_member"]}
    assert entry.actor_is_staff is True


def test_anonymous_is_sent_to_login(client, org):
    response = client.get("/organizations/acme/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


# --- roles and removal -------------------------------------------------------------------


def test_admin_promotes_member(client_for, org, org_admin, org_member):
    m = Membership.objects.get(user=org_member)
    response = client_for(org_admin).post(f"/organizations/acme/members/{m.pk}/role/", {"role": "admin"})
    assert response.status_code == 302
    m.refresh_from_db()
    assert m.role == "admin"
    entry = AuditEntry.objects.get(action="portal.organization.member_role_changed")
    assert entry.payload == {"user": org_member.pseudonym, "from": "member", "to": "admin"}


def test_member_cannot_change_roles(client_for, org, org_admin, org_member):
    admin_m = Membership.objects.get(user=org_admin)
    response = client_for(org_member).post(f"/organizations/acme/members/{admin_m.pk}/role/", {"role": "member"})
    assert response.status_code == 403
    admin_m.refresh_from_db()
    assert admin_m.role == "admin"


def test_other_org_admin_gets_404_on_role_change(client_for, org, org_member, other_member):
    m = Membership.objects.get(user=org_member)
    response = client_for(other_member).post(f"/organizations/acme/members/{m.pk}/role/", {"role": "admin"})
    assert response.status_code == 404
    # A membership of another organization through one's own slug is not found either.
    response = client_for(other_member).post(f"/organizations/rival/members/{m.pk}/role/", {"role": "admin"})
    assert response.status_code == 404
    m.refresh_from_db()
    assert m.role == "member"


def test_last_admin_cannot_be_demoted(client_for, org, org_admin, org_member):
    m = Membership.objects.get(user=org_admin)
    response = client_for(org_admin).post(f"/organizations/acme/members/{m.pk}/role/", {"role": "member"})
    assert response.status_code == 302
    m.refresh_from_db()
    assert m.role == "admin"
    assert any("at least one admin" in msg for msg in messages_of(response))
    assert not AuditEntry.objects.filter(action="portal.organization.member_role_changed").exists()


def test_admin_can_step_down_when_another_admin_exists(client_for, org, org_admin):
    second = f.MembershipFactory(organization=org, role="admin")
    m = Membership.objects.get(user=org_admin)
    client_for(org_admin).post(f"/organizations/acme/members/{m.pk}/role/", {"role": "member"})
    m.refresh_from_db()
    assert m.role == "member"
    assert Membership.objects.get(pk=second.pk).role == "admin"


def test_unknown_role_is_refused(client_for, org, org_admin, org_member):
    m = Membership.objects.get(user=org_member)
    response = client_for(org_admin).post(f"/organizations/acme/members/{m.pk}/role/", {"role": "owner"})
    assert response.status_code == 302
    m.refresh_from_db()
    assert m.role == "member"
    assert any("Choose a role" in msg for msg in messages_of(response))


def test_admin_removes_member(client_for, org, org_admin, org_member):
    m = Membership.objects.get(user=org_member)
    response = client_for(org_admin).post(f"/organizations/acme/members/{m.pk}/remove/")
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=m.pk).exists()
    entry = AuditEntry.objects.get(action="portal.organization.member_removed")
    assert entry.actor == org_admin
    assert entry.payload["user"] == org_member.pseudonym


def test_member_cannot_remove_others(client_for, org, org_admin, org_member):
    admin_m = Membership.objects.get(user=org_admin)
    assert client_for(org_member).post(f"/organizations/acme/members/{admin_m.pk}/remove/").status_code == 403
    assert Membership.objects.filter(pk=admin_m.pk).exists()


def test_last_admin_cannot_be_removed(client_for, org, org_admin, staff):
    # Even staff go through the same service rule (here called directly: staff have no
    # membership, so the members page refuses them the remove button).
    m = Membership.objects.get(user=org_admin)
    with pytest.raises(organizations.OrganizationError):
        organizations.remove_member(m, staff)
    response = client_for(org_admin).post(f"/organizations/acme/members/{m.pk}/remove/")
    assert response.status_code == 302
    assert Membership.objects.filter(pk=m.pk).exists()
    assert any("last admin" in msg for msg in messages_of(response))


def test_member_leaves(client_for, org, org_admin, org_member):
    client = client_for(org_member)
    client.post("/organizations/acme/switch/")
    response = client.post("/organizations/acme/leave/")
    assert response.status_code == 302
    assert not Membership.objects.filter(user=org_member, organization=org).exists()
    assert "current_organization" not in client.session
    assert AuditEntry.objects.filter(action="portal.organization.member_left", actor=org_member).exists()
    assert client.get("/organizations/acme/").status_code == 404


def test_last_admin_cannot_leave(client_for, org, org_admin, org_member):
    response = client_for(org_admin).post("/organizations/acme/leave/")
    assert response.status_code == 302
    assert response["Location"] == "/organizations/acme/members/"
    assert Membership.objects.filter(user=org_admin, organization=org, role="admin").exists()
    assert any("last admin" in msg for msg in messages_of(response))


def test_outsider_cannot_leave_or_switch(client_for, org, other_member):
    client = client_for(other_member)
    assert client.post("/organizations/acme/leave/").status_code == 404
    assert client.post("/organizations/acme/switch/").status_code == 404


def test_members_page_lists_members_and_hides_admin_tools_from_members(client_for, org, org_admin, org_member):
    page = client_for(org_member).get("/organizations/acme/members/").content.decode()
    assert org_admin.email in page and org_member.email in page
    assert "Send invitation" not in page
    page = client_for(org_admin).get("/organizations/acme/members/").content.decode()
    assert "Send invitation" in page


# --- several organizations -----------------------------------------------------------------


def test_user_in_several_organizations_switches_and_dashboard_shows_current(client_for, org, other_org):
    user = f.UserFactory()
    f.MembershipFactory(organization=org, user=user, role="member")
    f.MembershipFactory(organization=other_org, user=user, role="admin")
    client = client_for(user)

    page = client.get("/dashboard/")
    # Memberships are ordered by organization name: Acme AI first.
    assert page.context["current_org"] == org

    response = client.post("/organizations/rival/switch/")
    assert response.status_code == 302
    page = client.get("/dashboard/")
    assert page.context["current_org"] == other_org
    assert page.context["current_membership"].role == "admin"
    html = page.content.decode()
    assert "<h2>Rival Labs</h2>" in html
    assert "Switch to Acme AI" in html
    assert "Switch to Rival Labs" not in html

    client.post("/organizations/acme/switch/")
    assert client.get("/dashboard/").context["current_org"] == org


def test_dashboard_falls_back_when_current_organization_was_left(client_for, org, other_org):
    user = f.UserFactory()
    f.MembershipFactory(organization=org, user=user, role="member")
    keep = f.MembershipFactory(organization=other_org, user=user, role="member")
    f.MembershipFactory(organization=org, role="admin")
    client = client_for(user)
    client.post("/organizations/acme/switch/")
    # Removed by an admin: the session still names acme, the dashboard must not.
    Membership.objects.filter(user=user, organization=org).delete()
    assert client.get("/dashboard/").context["current_org"] == keep.organization


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_admins_stepping_down_at_once_leave_one_admin():
    import threading

    from django.db import connections

    org = f.OrganizationFactory(slug="race")
    first = f.MembershipFactory(organization=org, role="admin")
    second = f.MembershipFactory(organization=org, role="admin")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def step_down(m: Membership) -> None:
        try:
            barrier.wait()
            organizations.change_role(m, "member", m.user)
            outcomes.append("demoted")
        except organizations.OrganizationError:
            outcomes.append("refused")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=step_down, args=(m,)) for m in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["demoted", "refused"]
    assert Membership.objects.filter(organization=org, role="admin").count() == 1
