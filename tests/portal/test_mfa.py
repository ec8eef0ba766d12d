"""Staff and auditors must set up TOTP before anything else (DESIGN §3)."""

from __future__ import annotations

import pytest
from allauth.mfa.models import Authenticator
from django.urls import reverse

from tests import factories as f

ACTIVATE = "/accounts/2fa/totp/activate/"


@pytest.fixture
def staff_without_mfa(db):
    return f.make_staff(mfa=False)


@pytest.fixture
def auditor_without_mfa(db):
    return f.make_auditor(mfa=False)


def reauthenticate(client, password: str = f.PASSWORD) -> None:
    response = client.post(reverse("account_reauthenticate"), {"password": password})
    assert response.status_code == 302, response.content


@pytest.mark.parametrize("persona", ["staff_without_mfa", "auditor_without_mfa"])
@pytest.mark.parametrize("path", ["/dashboard/", "/account/profile/", "/account/tokens/", "/organizations/", "/"])
def test_pages_redirect_to_totp_setup_until_enrolled(request, client, persona, path):
    client.force_login(request.getfixturevalue(persona))
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_activate_totp")


@pytest.mark.parametrize("persona", ["staff_without_mfa", "auditor_without_mfa"])
def test_api_refuses_users_without_totp(request, client, persona):
    client.force_login(request.getfixturevalue(persona))
    response = client.get("/api/v1/organizations/")
    assert response.status_code == 403
    assert "two-factor" in response.json()["detail"]


def test_api_token_of_user_without_totp_is_refused(client, db):
    """A token made before the requirement applied (e.g. before accreditation) is refused too."""
    from portal.models import ApiToken, hash_secret

    user = f.make_auditor(mfa=False)
    raw = ApiToken.generate_key()
    ApiToken.objects.create(user=user, name="old", key_hash=hash_secret(raw), hint=raw[:10])
    response = client.get("/api/v1/organizations/", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 403


@pytest.mark.parametrize(
    "path,status",
    [
        # The setup page first asks for a recent sign-in (force_login left none): not the MFA redirect.
        (ACTIVATE, 302),
        ("/accounts/2fa/", 200),
        ("/accounts/logout/", 200),
        ("/accounts/reauthenticate/", 200),
        ("/healthz", 200),
    ],
)
def test_setup_reauthentication_and_logout_stay_open(client, staff_without_mfa, path, status):
    client.force_login(staff_without_mfa)
    response = client.get(path)
    assert response.status_code == status
    if status == 302:
        assert response["Location"].startswith(reverse("account_reauthenticate"))


def test_members_and_evaluators_need_no_totp(client, org_member, evaluator):
    for user in (org_member, evaluator):
        client.force_login(user)
        assert client.get("/dashboard/").status_code == 200


def test_staff_enrols_through_allauth_and_then_reaches_pages(client, staff_without_mfa):
    client.force_login(staff_without_mfa)
    # Activating TOTP asks for the password again (force_login left no sign-in record).
    response = client.get(ACTIVATE)
    assert response["Location"].startswith(reverse("account_reauthenticate"))
    reauthenticate(client)
    response = client.get(ACTIVATE)
    assert response.status_code == 200
    secret = response.context["form"].secret
    response = client.post(ACTIVATE, {"code": f.totp_code(secret)})
    assert response.status_code == 302
    assert Authenticator.objects.filter(user=staff_without_mfa, type=Authenticator.Type.TOTP).exists()
    assert client.get("/dashboard/").status_code == 200
    assert client.get("/api/v1/organizations/").status_code == 200


def test_wrong_totp_code_does_not_enrol(client, staff_without_mfa):
    client.force_login(staff_without_mfa)
    reauthenticate(client)
    response = client.get(ACTIVATE)
    secret = response.context["form"].secret
    wrong = f"{(int(f.totp_code(secret)) + 1) % 1_000_000:06d}"
    response = client.post(ACTIVATE, {"code": wrong})
    assert response.status_code == 200
    assert response.context["form"].errors
    assert not Authenticator.objects.filter(user=staff_without_mfa).exists()
    assert client.get("/dashboard/")["Location"] == reverse("mfa_activate_totp")


def test_staff_login_with_password_then_totp_code(client, staff):
    response = client.post(reverse("account_login"), {"login": staff.email, "password": f.PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_authenticate")
    # Not signed in yet: the second factor is still missing.
    assert client.get("/dashboard/")["Location"].startswith(reverse("account_login"))

    response = client.post(reverse("mfa_authenticate"), {"code": f.totp_code(f.STAFF_TOTP_SECRET)})
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:dashboard")
    response = client.get("/dashboard/")
    assert response.status_code == 200
    assert response.context["user"] == staff


def test_staff_login_with_wrong_totp_code_is_refused(client, staff):
    client.post(reverse("account_login"), {"login": staff.email, "password": f.PASSWORD})
    good = f.totp_code(f.STAFF_TOTP_SECRET)
    response = client.post(reverse("mfa_authenticate"), {"code": f"{(int(good) + 1) % 1_000_000:06d}"})
    assert response.status_code == 200
    assert response.context["form"].errors
    assert client.get("/dashboard/").status_code == 302


def test_auditor_login_with_recovery_code(client, auditor):
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes

    code = RecoveryCodes(Authenticator.objects.get(user=auditor, type=Authenticator.Type.RECOVERY_CODES)).get_unused_codes()[0]
    client.post(reverse("account_login"), {"login": auditor.email, "password": f.PASSWORD})
    response = client.post(reverse("mfa_authenticate"), {"code": code})
    assert response.status_code == 302
    assert client.get("/dashboard/").status_code == 200


def test_staff_cannot_deactivate_totp(client, staff):
    client.force_login(staff)
    reauthenticate(client)
    response = client.post(reverse("mfa_deactivate_totp"))
    assert response.status_code == 200
    assert response.context["form"].errors
    assert Authenticator.objects.filter(user=staff, type=Authenticator.Type.TOTP).exists()


def test_member_can_deactivate_optional_totp(client, org_member):
    f.enrol_totp(org_member, f.STAFF_TOTP_SECRET)
    client.force_login(org_member)
    reauthenticate(client)
    response = client.post(reverse("mfa_deactivate_totp"))
    assert response.status_code == 302
    assert not Authenticator.objects.filter(user=org_member, type=Authenticator.Type.TOTP).exists()
