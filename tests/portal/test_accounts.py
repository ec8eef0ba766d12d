"""Accounts through allauth's real views: sign-up, sign-in, password reset, email
change, time zone, deletion, rate limits (DESIGN §3)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.urls import reverse

from portal.models import AuditEntry, Membership, Notification, User
from tests import factories as f

NEW_PASSWORD = "a-fresh-passphrase-42"


def link_in(message, path_start: str) -> str:
    match = re.search(rf"https?://[^/\s]+({re.escape(path_start)}\S+)", message.body)
    assert match, f"no {path_start} link in:\n{message.body}"
    return match.group(1)


def reauthenticate(client, password: str = f.PASSWORD) -> None:
    response = client.post(reverse("account_reauthenticate"), {"password": password})
    assert response.status_code == 302, response.content


# --- sign-up ------------------------------------------------------------------------


def test_signup_requires_email_confirmation_which_logs_in(client, db):
    response = client.post(
        reverse("account_signup"),
        {"email": "new@example.org", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    user = User.objects.get(email="new@example.org")
    assert not EmailAddress.objects.get(user=user).verified
    # Not signed in before confirming.
    assert client.get("/dashboard/")["Location"].startswith("/accounts/login/")
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["new@example.org"]

    confirm_url = link_in(mail.outbox[0], "/accounts/confirm-email/")
    # GET only shows the confirmation button (a mail scanner must not confirm).
    assert client.get(confirm_url).status_code == 200
    assert not EmailAddress.objects.get(user=user).verified
    response = client.post(confirm_url)
    assert response.status_code == 302
    assert EmailAddress.objects.get(user=user).verified
    response = client.get("/dashboard/")
    assert response.status_code == 200
    assert response.context["user"] == user


def test_unconfirmed_account_cannot_sign_in(client, db):
    client.post(
        reverse("account_signup"),
        {"email": "new@example.org", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    other = client.__class__()
    response = other.post(reverse("account_login"), {"login": "new@example.org", "password": NEW_PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert other.get("/dashboard/").status_code == 302


def test_signup_with_weak_password_shows_field_errors(client, db):
    response = client.post(
        reverse("account_signup"), {"email": "new@example.org", "password1": "password", "password2": "password"}
    )
    assert response.status_code == 200
    assert b"error-summary" in response.content
    assert not User.objects.filter(email="new@example.org").exists()


# --- sign-in -------------------------------------------------------------------------


def test_login_by_email(client, org_member):
    response = client.post(reverse("account_login"), {"login": org_member.email.upper(), "password": f.PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:dashboard")
    assert client.get("/dashboard/").context["user"] == org_member


def test_login_with_wrong_password_is_refused(client, org_member):
    response = client.post(reverse("account_login"), {"login": org_member.email, "password": "nope-nope-nope"})
    assert response.status_code == 200
    assert response.context["form"].errors
    assert b"error-summary" in response.content


def test_repeated_failed_logins_are_rate_limited(client, org_member):
    # Per address: after 5 failures even the right password is refused for a while.
    for _ in range(5):
        client.post(reverse("account_login"), {"login": org_member.email, "password": "wrong-password-1"})
    response = client.post(reverse("account_login"), {"login": org_member.email, "password": f.PASSWORD})
    assert response.status_code == 200
    assert "Too many failed login attempts" in response.content.decode()
    assert client.get("/dashboard/").status_code == 302
    # Per IP: past 30 attempts a minute the sign-in view answers 429.
    statuses = [
        client.post(reverse("account_login"), {"login": f"x{i}@example.org", "password": "wrong"}).status_code
        for i in range(30)
    ]
    assert statuses[-1] == 429
    assert 200 in statuses
    assert "Too many attempts" in client.post(reverse("account_login"), {"login": "y@example.org"}).content.decode()


# --- password reset ------------------------------------------------------------------


def test_password_reset_by_email(client, org_member):
    response = client.post(reverse("account_reset_password"), {"email": org_member.email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    reset_url = link_in(mail.outbox[0], "/accounts/password/reset/key/")
    # allauth moves the key into the session and redirects to a key-less URL.
    response = client.get(reset_url)
    assert response.status_code == 302
    form_url = response["Location"]
    response = client.post(form_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code == 302
    org_member.refresh_from_db()
    assert org_member.check_password(NEW_PASSWORD)
    fresh = client.__class__()
    response = fresh.post(reverse("account_login"), {"login": org_member.email, "password": NEW_PASSWORD})
    assert response["Location"] == reverse("portal:dashboard")


def test_password_reset_for_unknown_address_sends_nothing_useful(client, db):
    response = client.post(reverse("account_reset_password"), {"email": "nobody@example.org"})
    # The same answer as for a known address: no account enumeration.
    assert response.status_code == 302
    assert all("/accounts/password/reset/key/" not in m.body for m in mail.outbox)


# --- email change --------------------------------------------------------------------


def test_email_change_takes_effect_after_confirming_the_new_address(client, org_member):
    old = org_member.email
    client.force_login(org_member)
    response = client.post(reverse("account_email"), {"action_add": "", "email": "renamed@example.org"})
    assert response.status_code == 302
    org_member.refresh_from_db()
    assert org_member.email == old  # not before confirmation
    assert mail.outbox[-1].to == ["renamed@example.org"]
    client.post(link_in(mail.outbox[-1], "/accounts/confirm-email/"))
    org_member.refresh_from_db()
    assert org_member.email == "renamed@example.org"
    assert list(EmailAddress.objects.filter(user=org_member).values_list("email", flat=True)) == [
        "renamed@example.org"
    ]


def test_email_page_renders_in_the_site_layout(client, org_member):
    client.force_login(org_member)
    response = client.get(reverse("account_email"))
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("<h1") == 1
    assert 'class="site-header"' in html and "<main" in html
    assert org_member.email in html


# --- time zone -----------------------------------------------------------------------


def test_time_zone_is_saved_and_used_to_render_datetimes(client, org_member):
    Notification.objects.create(
        user=org_member, kind="test", subject="Hello", body="Hello", created_at=datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    )
    client.force_login(org_member)
    assert "1 January 2025, 12:00 UTC" in client.get("/notifications/").content.decode()
    response = client.post(reverse("portal:profile"), {"name": "Ada", "time_zone": "Asia/Tokyo"})
    assert response.status_code == 302
    org_member.refresh_from_db()
    assert org_member.time_zone == "Asia/Tokyo"
    assert "1 January 2025, 21:00 JST" in client.get("/notifications/").content.decode()


def test_unknown_time_zone_is_a_field_error(client, org_member):
    client.force_login(org_member)
    response = client.post(reverse("portal:profile"), {"name": "Ada", "time_zone": "Mars/Olympus_Mons"})
    assert response.status_code == 200
    assert "time_zone" in response.context["form"].errors
    assert b'href="#id_time_zone"' in response.content  # linked from the error summary
    org_member.refresh_from_db()
    assert org_member.time_zone == "UTC"


# --- deletion ------------------------------------------------------------------------


def test_account_deletion_requires_recent_reauthentication(client, org_member):
    client.force_login(org_member)
    response = client.post(reverse("portal:account-delete"), {"confirm": "DELETE"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_reauthenticate"))
    org_member.refresh_from_db()
    assert org_member.is_active


def test_account_deletion_anonymizes_and_keeps_the_audit_trail(client, org, org_admin, org_member):
    client.force_login(org_member)
    client.post(reverse("portal:profile"), {"name": "Ada Lovelace", "time_zone": "UTC"})
    pseudonym, email = org_member.pseudonym, org_member.email
    entries_before = AuditEntry.objects.filter(actor=org_member).count()
    assert entries_before >= 1
    reauthenticate(client)
    response = client.post(reverse("portal:account-delete"), {"confirm": "DELETE"})
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:home")

    org_member.refresh_from_db()
    assert org_member.pseudonym == pseudonym
    assert email not in org_member.email and "Ada" not in org_member.name
    assert pseudonym in org_member.email
    assert not org_member.is_active and not org_member.has_usable_password()
    assert not Membership.objects.filter(user=org_member).exists()
    assert not EmailAddress.objects.filter(email__iexact=email).exists()
    # The trail stays; the deletion entry itself does not copy the old name.
    assert AuditEntry.objects.filter(actor=org_member).count() > entries_before
    deleted = AuditEntry.objects.get(action="portal.user.deleted")
    assert "Ada" not in deleted.object_repr and email not in deleted.object_repr
    # Signed out, and cannot sign in again.
    assert client.get("/dashboard/").status_code == 302
    response = client.post(reverse("account_login"), {"login": email, "password": f.PASSWORD})
    assert response.status_code == 200
    assert client.get("/dashboard/").status_code == 302


def test_wrong_confirmation_word_deletes_nothing(client, org_member):
    client.force_login(org_member)
    reauthenticate(client)
    response = client.post(reverse("portal:account-delete"), {"confirm": "delete please"})
    assert response.status_code == 200
    assert response.context["form"].errors
    org_member.refresh_from_db()
    assert org_member.is_active


def test_last_admin_of_an_organization_with_members_cannot_delete_the_account(client, org, org_admin, org_member):
    client.force_login(org_admin)
    reauthenticate(client)
    response = client.post(reverse("portal:account-delete"), {"confirm": "DELETE"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "last admin of Acme AI" in html
    assert "error-summary" in html
    org_admin.refresh_from_db()
    assert org_admin.is_active
    assert Membership.objects.filter(user=org_admin, organization=org).exists()
    assert not AuditEntry.objects.filter(action="portal.user.deleted").exists()


def test_sole_admin_of_an_organization_without_other_members_can_delete(client, org, org_admin):
    client.force_login(org_admin)
    reauthenticate(client)
    response = client.post(reverse("portal:account-delete"), {"confirm": "DELETE"})
    assert response.status_code == 302
    org_admin.refresh_from_db()
    assert org_admin.anonymized_at is not None


def test_one_of_two_admins_can_delete(client, org, org_admin, org_member):
    Membership.objects.filter(user=org_member).update(role=Membership.Role.ADMIN)
    client.force_login(org_admin)
    reauthenticate(client)
    assert client.post(reverse("portal:account-delete"), {"confirm": "DELETE"}).status_code == 302
    assert list(Membership.objects.filter(organization=org).values_list("user", flat=True)) == [org_member.pk]


@pytest.mark.parametrize("persona", ["staff", "auditor"])
def test_deleting_staff_or_auditor_removes_their_authenticators_and_staff_role(request, client, persona):
    from allauth.mfa.models import Authenticator

    user = request.getfixturevalue(persona)
    client.force_login(user)
    reauthenticate(client)
    assert client.post(reverse("portal:account-delete"), {"confirm": "DELETE"}).status_code == 302
    user = User.objects.get(pk=user.pk)
    assert not Authenticator.objects.filter(user=user).exists()
    assert not user.is_alliance_staff


# --- the Django admin ----------------------------------------------------------------


def test_admin_login_goes_through_allauth(client, db):
    response = client.get("/admin/")
    assert response.status_code == 302
    response = client.get(response["Location"])
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_admin_refuses_signed_in_non_superusers(client, staff):
    client.force_login(staff)
    response = client.get("/admin/", follow=True)
    assert response.status_code == 403


def test_admin_opens_for_a_superuser_with_mfa(client, db):
    admin = f.UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    # Superusers need TOTP like staff.
    assert client.get("/admin/")["Location"] == reverse("mfa_activate_totp")
    f.enrol_totp(admin, f.STAFF_TOTP_SECRET)
    assert client.get("/admin/").status_code == 200


# --- allauth pages in the site layout -------------------------------------------------


class PageStructure(HTMLParser):
    """Counts h1s and landmarks, and pairs form controls with their labels."""

    def __init__(self):
        super().__init__()
        self.h1 = 0
        self.landmarks: set[str] = set()
        self.controls: list[str] = []
        self.labelled: set[str] = set()
        self.in_form = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "h1":
            self.h1 += 1
        if tag in ("header", "main", "footer", "nav"):
            self.landmarks.add(tag)
        if tag == "label" and a.get("for"):
            self.labelled.add(a["for"])
        if tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit", "button"):
            if not a.get("aria-label"):
                self.controls.append(a.get("id") or f"<{tag} name={a.get('name')}> without id")


def assert_site_page(response) -> PageStructure:
    assert response.status_code == 200
    page = PageStructure()
    page.feed(response.content.decode())
    assert page.h1 == 1, f"{page.h1} h1 elements"
    assert {"header", "main", "footer", "nav"} <= page.landmarks
    unlabelled = [c for c in page.controls if c not in page.labelled]
    assert not unlabelled, f"controls without a label: {unlabelled}"
    assert b'href="/static/css/portal.css"' in response.content
    return page


ANONYMOUS_PAGES = [
    "/accounts/login/",
    "/accounts/signup/",
    "/accounts/password/reset/",
    "/accounts/password/reset/done/",
    "/accounts/confirm-email/",
]
MEMBER_PAGES = [
    "/accounts/email/",
    "/accounts/password/change/",
    "/accounts/logout/",
    "/accounts/reauthenticate/",
    "/accounts/2fa/",
    "/account/profile/",
    "/account/tokens/",
    "/notifications/",
    "/dashboard/",
]
STAFF_PAGES = ["/accounts/2fa/", "/accounts/2fa/recovery-codes/", "/accounts/2fa/reauthenticate/"]


@pytest.mark.parametrize("path", ANONYMOUS_PAGES)
def test_anonymous_account_pages_use_the_site_layout(client, db, path):
    assert_site_page(client.get(path))


@pytest.mark.parametrize("path", MEMBER_PAGES)
def test_account_pages_use_the_site_layout(client, org_member, path):
    client.force_login(org_member)
    assert_site_page(client.get(path))


@pytest.mark.parametrize("path", STAFF_PAGES)
def test_mfa_pages_use_the_site_layout(client, staff, path):
    client.force_login(staff)
    response = client.get(path)
    if path == "/accounts/2fa/recovery-codes/":
        assert response.status_code == 302  # shows codes only after a recent sign-in
        client.post(reverse("account_reauthenticate"), {"password": f.PASSWORD})
        response = client.get(path)
    assert_site_page(response)


def test_totp_setup_and_second_factor_pages_use_the_site_layout(client, db):
    user = f.make_staff(mfa=False)
    client.force_login(user)
    client.post(reverse("account_reauthenticate"), {"password": f.PASSWORD})
    page = assert_site_page(client.get("/accounts/2fa/totp/activate/"))
    assert "id_code" in page.controls
    fresh = client.__class__()
    enrolled = f.make_staff()
    fresh.post(reverse("account_login"), {"login": enrolled.email, "password": f.PASSWORD})
    assert_site_page(fresh.get(reverse("mfa_authenticate")))


def test_failed_signup_shows_an_error_summary_linking_to_fields(client, db):
    response = client.post(
        reverse("account_signup"), {"email": "not-an-email", "password1": "short", "password2": "other"}
    )
    html = response.content.decode()
    assert_site_page(response)
    assert "There is a problem" in html
    assert 'href="#id_email"' in html
    assert html.count('class="error-summary"') == 1


def test_failed_email_change_shows_an_error_summary(client, org_member):
    client.force_login(org_member)
    response = client.post(reverse("account_email"), {"action_add": "", "email": "not-an-email"})
    html = response.content.decode()
    assert_site_page(response)
    assert html.count('class="error-summary"') == 1
    assert 'class="error-message"' in html  # and beside the field


def test_failed_login_shows_one_error_summary_in_the_layout(client, org_member):
    response = client.post(reverse("account_login"), {"login": org_member.email, "password": "wrong-password"})
    html = response.content.decode()
    assert_site_page(response)
    assert html.count('class="error-summary"') == 1
    assert "not correct" in html


def test_allauth_emails_name_the_portal_not_the_host(client, db, settings):
    settings.SITE_NAME = "Release Portal"
    client.post(
        reverse("account_signup"),
        {"email": "new@example.org", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    body = mail.outbox[0].body
    assert "Release Portal" in body
    assert "testserver!" not in body


@pytest.mark.parametrize(
    "persona,path",
    [
        ("org_admin", "/organizations/acme/"),
        ("org_admin", "/organizations/acme/members/"),
        ("org_admin", "/organizations/acme/audit/"),
        ("org_admin", "/organizations/new/"),
        ("org_admin", "/account/delete/"),
        ("staff", "/staff/"),
        ("staff", "/staff/audit/"),
        ("staff", "/organizations/"),
    ],
)
def test_portal_pages_have_one_h1_labelled_fields_and_landmarks(request, client, org, persona, path):
    user = request.getfixturevalue(persona)
    client.force_login(user)
    client.post(reverse("account_reauthenticate"), {"password": f.PASSWORD})
    assert_site_page(client.get(path))
