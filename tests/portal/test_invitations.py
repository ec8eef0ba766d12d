"""Invitations: single use, expiring, only for the invited address, withdrawable."""

from __future__ import annotations

import re

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.utils import timezone

from portal import organizations
from portal.models import AuditEntry, Invitation, Membership, Notification, OutboxEmail
from tests import factories as f

pytestmark = pytest.mark.django_db

INVITEE = "newcomer@example.org"


@pytest.fixture
def invited(org, org_admin, django_capture_on_commit_callbacks, monkeypatch):
    """An invitation of INVITEE as member, sent through the members page; returns (invitation, token)."""
    delivered = []
    monkeypatch.setattr("portal.notifications.enqueue_delivery", lambda ids: delivered.extend(ids))
    from django.test import Client

    client = Client()
    client.force_login(org_admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/organizations/acme/members/", {"email": "Newcomer@Example.org", "role": "member"})
    assert response.status_code == 302
    invitation = Invitation.objects.get(organization=org)
    row = OutboxEmail.objects.get(to=INVITEE)
    assert delivered == [row.pk]
    token = re.search(r"/invitations/([\w-]+)/", row.body_text).group(1)
    return invitation, token


def test_invitation_is_emailed_with_a_single_use_link_and_only_its_hash_is_stored(invited, org):
    invitation, token = invited
    assert invitation.email == INVITEE
    assert invitation.token_hash != token and token not in invitation.token_hash
    row = OutboxEmail.objects.get(to=INVITEE)
    assert row.subject == "You are invited to join Acme AI"
    assert f"{settings.SITE_URL}/invitations/{token}/" in row.body_text
    assert f'href="{settings.SITE_URL}/invitations/{token}/"' in row.body_html
    assert abs(invitation.expires_at - (timezone.now() + settings.INVITATION_VALIDITY)).total_seconds() < 60
    entry = AuditEntry.objects.get(action="portal.organization.member_invited")
    assert entry.payload == {"email": INVITEE, "role": "member"}
    assert entry.organization == org


def test_invitee_accepts_and_becomes_member(invited, client_for, org, org_admin, django_capture_on_commit_callbacks):
    invitation, token = invited
    user = f.UserFactory(email=INVITEE)
    client = client_for(user)
    page = client.get(f"/invitations/{token}/")
    assert page.status_code == 200
    assert "Join Acme AI" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(f"/invitations/{token}/")
    assert response.status_code == 302
    assert response["Location"] == "/dashboard/"
    assert Membership.objects.get(organization=org, user=user).role == "member"
    assert client.session["current_organization"] == "acme"
    invitation.refresh_from_db()
    assert invitation.accepted_by == user and invitation.accepted_at is not None
    assert AuditEntry.objects.filter(action="portal.organization.member_joined", actor=user).exists()
    # The admins hear about it.
    note = Notification.objects.get(user=org_admin, kind="member-joined")
    assert user.display_name in note.subject
    assert OutboxEmail.objects.filter(notification=note, to=org_admin.email).exists()


def test_invited_role_is_granted(org, org_admin):
    _, token = organizations.invite(org, org_admin, "boss@example.org", "admin")
    user = f.UserFactory(email="boss@example.org")
    assert organizations.accept_invitation(token, user).role == "admin"


def test_reused_invitation_is_refused(invited, client_for, org):
    _, token = invited
    user = f.UserFactory(email=INVITEE)
    client = client_for(user)
    client.post(f"/invitations/{token}/")
    Membership.objects.filter(user=user).delete()

    page = client.get(f"/invitations/{token}/")
    assert page.status_code == 400
    assert "already been used" in page.content.decode()
    response = client.post(f"/invitations/{token}/")
    assert response.status_code == 400
    assert "already been used" in response.content.decode()
    assert not Membership.objects.filter(user=user).exists()


def test_expired_invitation_is_refused(invited, client_for):
    _, token = invited
    user = f.UserFactory(email=INVITEE)
    with time_machine.travel(timezone.now() + settings.INVITATION_VALIDITY + timezone.timedelta(minutes=1)):
        client = client_for(user)
        page = client.get(f"/invitations/{token}/")
        assert page.status_code == 410
        assert "expired" in page.content.decode()
        response = client.post(f"/invitations/{token}/")
        assert response.status_code == 400
        assert "expired" in response.content.decode()
    assert not Membership.objects.filter(user=user).exists()


def test_invitation_still_works_just_before_expiry(invited, client_for, org):
    _, token = invited
    user = f.UserFactory(email=INVITEE)
    with time_machine.travel(timezone.now() + settings.INVITATION_VALIDITY - timezone.timedelta(minutes=5)):
        client_for(user).post(f"/invitations/{token}/")
    assert Membership.objects.filter(user=user, organization=org).exists()


def test_wrong_email_is_refused(invited, client_for):
    _, token = invited
    intruder = f.UserFactory(email="someone-else@example.org")
    client = client_for(intruder)
    page = client.get(f"/invitations/{token}/")
    assert page.status_code == 400
    assert f"sent to {INVITEE}" in page.content.decode()
    response = client.post(f"/invitations/{token}/")
    assert response.status_code == 400
    assert not Membership.objects.filter(user=intruder).exists()
    assert Invitation.objects.get().accepted_at is None


def test_revoked_invitation_is_refused(invited, client_for, org_admin):
    invitation, token = invited
    response = client_for(org_admin).post(f"/organizations/acme/invitations/{invitation.pk}/revoke/")
    assert response.status_code == 302
    assert AuditEntry.objects.filter(action="portal.organization.invitation_revoked").exists()
    user = f.UserFactory(email=INVITEE)
    client = client_for(user)
    page = client.get(f"/invitations/{token}/")
    assert page.status_code == 400
    assert "withdrawn" in page.content.decode()
    assert client.post(f"/invitations/{token}/").status_code == 400
    assert not Membership.objects.filter(user=user).exists()


@pytest.mark.parametrize("mangle", [lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), lambda t: t + "x", lambda t: "nonsense"])
def test_tampered_token_is_refused(invited, client_for, mangle):
    _, token = invited
    user = f.UserFactory(email=INVITEE)
    client = client_for(user)
    bad = mangle(token)
    page = client.get(f"/invitations/{bad}/")
    assert page.status_code == 404
    assert "not valid" in page.content.decode()
    assert client.post(f"/invitations/{bad}/").status_code == 400
    assert not Membership.objects.filter(user=user).exists()


def test_anonymous_visitor_sees_invitation_but_must_sign_in_to_accept(invited, client):
    _, token = invited
    page = client.get(f"/invitations/{token}/")
    assert page.status_code == 200
    assert "Sign in" in page.content.decode()
    response = client.post(f"/invitations/{token}/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/invitations/")
    assert Invitation.objects.get().accepted_at is None


def test_anonymous_user_cannot_accept_through_the_service(invited):
    from django.contrib.auth.models import AnonymousUser

    _, token = invited
    with pytest.raises(organizations.OrganizationError):
        organizations.accept_invitation(token, AnonymousUser())


def test_new_invitation_replaces_pending_one(org, org_admin):
    first, first_token = organizations.invite(org, org_admin, INVITEE, "member")
    second, second_token = organizations.invite(org, org_admin, INVITEE, "admin")
    first.refresh_from_db()
    assert first.revoked_at is not None
    user = f.UserFactory(email=INVITEE)
    with pytest.raises(organizations.OrganizationError, match="withdrawn"):
        organizations.accept_invitation(first_token, user)
    assert organizations.accept_invitation(second_token, user).role == "admin"


def test_inviting_an_existing_member_shows_field_error(client_for, org, org_admin, org_member):
    response = client_for(org_admin).post("/organizations/acme/members/", {"email": org_member.email, "role": "member"})
    assert response.status_code == 200
    assert "already a member" in response.content.decode()
    assert not Invitation.objects.exists()


def test_member_cannot_invite_or_revoke(client_for, org, org_admin, org_member):
    invitation, _ = organizations.invite(org, org_admin, INVITEE, "member")
    client = client_for(org_member)
    assert client.post("/organizations/acme/members/", {"email": "x@example.org", "role": "admin"}).status_code == 403
    assert client.post(f"/organizations/acme/invitations/{invitation.pk}/revoke/").status_code == 403
    invitation.refresh_from_db()
    assert invitation.revoked_at is None
    assert Invitation.objects.count() == 1


def test_other_org_cannot_revoke(client_for, org, org_admin, other_member):
    invitation, _ = organizations.invite(org, org_admin, INVITEE, "member")
    client = client_for(other_member)
    assert client.post(f"/organizations/acme/invitations/{invitation.pk}/revoke/").status_code == 404
    assert client.post(f"/organizations/rival/invitations/{invitation.pk}/revoke/").status_code == 404
    invitation.refresh_from_db()
    assert invitation.revoked_at is None


def test_invitation_email_is_delivered_once(org, org_admin, django_capture_on_commit_callbacks, monkeypatch):
    from portal import tasks

    monkeypatch.setattr(tasks.deliver_outbox, "delay", lambda ids: tasks.deliver_outbox(ids))
    with django_capture_on_commit_callbacks(execute=True):
        organizations.invite(org, org_admin, INVITEE, "member")
    tasks.drain_outbox()
    assert [m.to for m in mail.outbox] == [[INVITEE]]
    assert mail.outbox[0].alternatives[0][1] == "text/html"
