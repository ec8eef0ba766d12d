"""A visitor signs up, confirms their email, creates an organization, invites a
colleague and signs out, in a real browser, with axe-core on every page."""

from __future__ import annotations

import re

import pytest

from portal import notifications
from portal.models import Invitation, Membership, Organization, OutboxEmail, User
from portal.tasks import drain_outbox
from tests.browser.conftest import read_mails, submit, submit_button, text_of, visit
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser

NEW_EMAIL = "ada@example.org"
INVITEE = "grace@example.org"


def test_signup_confirm_create_organization_invite_and_sign_out(page, live_server, mail_folder, monkeypatch):
    queued: list[list[int]] = []
    # No broker in browser tests: keep the ids the commit hook would queue, drain in-process below.
    monkeypatch.setattr(notifications, "enqueue_delivery", queued.append)

    visit(page, "/")
    visit(page, "/accounts/signup/")
    page.locator("input[name=email]").fill(NEW_EMAIL)
    page.locator("input[name=password1]").fill(PASSWORD)
    page.locator("input[name=password2]").fill(PASSWORD)
    submit(page, submit_button(page, "input[name=password1]"))

    # Mandatory verification: no session yet, a "verify your email" page instead.
    assert "/accounts/confirm-email/" in page.url
    assert User.objects.filter(email=NEW_EMAIL, is_active=True).exists()

    [confirmation] = read_mails(mail_folder)
    assert confirmation["To"] == NEW_EMAIL
    link = re.search(r"https?://\S+/accounts/confirm-email/[^/\s]+/", text_of(confirmation)).group(0)
    assert link.startswith(live_server.url)
    visit(page, link)
    submit(page, page.locator("main form [type=submit]"))

    # Confirming in the same browser signs in and lands on the dashboard.
    assert page.url == f"{live_server.url}/dashboard/"
    assert page.get_by_role("button", name="Sign out").is_visible()

    visit(page, "/organizations/new/")
    page.locator("input[name=name]").fill("Babbage Labs")
    submit(page, submit_button(page, "input[name=name]"))
    org = Organization.objects.get(name="Babbage Labs")
    assert page.url == f"{live_server.url}/organizations/{org.slug}/members/"
    assert Membership.objects.filter(organization=org, user__email=NEW_EMAIL, role="admin").exists()

    invite_form = page.locator("form:has(select[name=role]):has(input[name=email])")
    invite_form.locator("input[name=email]").fill(INVITEE)
    submit(page, invite_form.locator("[type=submit]"))
    assert page.url == f"{live_server.url}/organizations/{org.slug}/members/"
    assert page.get_by_text(f"Invitation sent to {INVITEE}").is_visible()

    invitation = Invitation.objects.get(organization=org, email=INVITEE)
    outbox = OutboxEmail.objects.get(to=INVITEE)
    assert queued == [[outbox.pk]]
    assert f"{live_server.url}/invitations/" in outbox.body_text
    assert outbox.sent_at is None

    assert drain_outbox() == 1
    outbox.refresh_from_db()
    assert outbox.sent_at is not None
    [invitation_mail] = [m for m in read_mails(mail_folder) if m["To"] == INVITEE]
    invitation_link = re.search(r"https?://\S+/invitations/\S+/", text_of(invitation_mail)).group(0)

    submit(page, page.get_by_role("button", name="Sign out"))
    assert page.url == f"{live_server.url}/"
    assert page.get_by_role("navigation", name="Main").get_by_role("link", name="Sign in").is_visible()

    # The emailed link opens the invitation for an anonymous visitor.
    visit(page, invitation_link)
    assert page.get_by_text(f"invites {INVITEE}").is_visible()
    invitation.refresh_from_db()
    assert invitation.accepted_at is None
