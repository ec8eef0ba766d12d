"""Personal API tokens: shown once, stored hashed, revocable; MFA sessions for staff and auditors."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.test import Client
from django.urls import reverse

from portal.models import ApiToken, AuditEntry
from tests import factories as f

TOKENS = "/account/tokens/"


def create_token(client, name: str = "CI", scopes=("read",)) -> str:
    response = client.post(TOKENS, {"name": name, "scopes": list(scopes)})
    assert response.status_code == 200, response.get("Location")
    match = re.search(r'id="new-token">(rrp_[\w-]+)<', response.content.decode())
    assert match, "the new token is shown"
    return match.group(1)


def bearer(raw: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def test_token_is_shown_once_and_stored_hashed(client, org_member):
    client.force_login(org_member)
    raw = create_token(client, "CI pipeline")
    token = ApiToken.objects.get(user=org_member)
    assert token.name == "CI pipeline"
    assert token.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in (token.key_hash, token.hint) and raw.startswith(token.hint)
    listing = client.get(TOKENS)
    assert raw not in listing.content.decode()
    assert "CI pipeline" in listing.content.decode()
    assert AuditEntry.objects.filter(action="portal.api_token.created", actor=org_member).exists()


def test_token_page_is_never_cached(client, org_member):
    client.force_login(org_member)
    response = client.post(TOKENS, {"name": "CI", "scopes": ["read"]})
    assert "no-store" in response["Cache-Control"]


def test_token_name_is_required_and_unique_among_active_tokens(client, org_member):
    client.force_login(org_member)
    assert client.post(TOKENS, {"name": "", "scopes": ["read"]}).context["form"].errors["name"]
    create_token(client, "CI")
    response = client.post(TOKENS, {"name": "CI", "scopes": ["read"]})
    assert response.context["form"].errors["name"]
    assert ApiToken.objects.filter(user=org_member).count() == 1


def test_bearer_token_authenticates_the_api(org, org_member):
    client = Client()
    client.force_login(org_member)
    raw = create_token(client)
    api = Client()
    response = api.get("/api/v1/organizations/", **bearer(raw))
    assert response.status_code == 200
    assert [o["slug"] for o in response.json()["results"]] == [org.slug]
    # "Token" works as the keyword too.
    assert api.get("/api/v1/organizations/", HTTP_AUTHORIZATION=f"Token {raw}").status_code == 200
    assert ApiToken.objects.get(user=org_member).last_used_at is not None


def test_bearer_token_writes_without_csrf(org_member):
    client = Client()
    client.force_login(org_member)
    raw = create_token(client, scopes=("read", "write"))
    api = Client(enforce_csrf_checks=True)
    response = api.post(
        "/api/v1/organizations/", {"name": "Token Made Org", "country": "DE"}, content_type="application/json",
        **bearer(raw),
    )
    assert response.status_code == 201, response.content


def test_revoked_token_gets_401(client, org_member):
    client.force_login(org_member)
    raw = create_token(client)
    token = ApiToken.objects.get(user=org_member)
    response = client.post(reverse("portal:token-revoke", args=[token.pk]))
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    response = Client().get("/api/v1/organizations/", **bearer(raw))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    # A second revoke changes nothing and logs nothing.
    client.post(reverse("portal:token-revoke", args=[token.pk]))
    assert AuditEntry.objects.filter(action="portal.api_token.revoked").count() == 1


def test_nobody_revokes_someone_elses_token(client, org_member, other_member):
    client.force_login(org_member)
    create_token(client)
    token = ApiToken.objects.get(user=org_member)
    client.force_login(other_member)
    assert client.post(reverse("portal:token-revoke", args=[token.pk])).status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


@pytest.mark.parametrize(
    "headers",
    [{}, {"HTTP_AUTHORIZATION": "Bearer rrp_not-a-real-token"}, {"HTTP_AUTHORIZATION": "Bearer"}],
)
def test_api_without_valid_credentials_is_refused(db, headers):
    response = Client().get("/api/v1/organizations/", **headers)
    assert response.status_code == 401


def test_token_of_a_deleted_account_stops_working(org_member):
    from portal.accounts import anonymize_user

    client = Client()
    client.force_login(org_member)
    raw = create_token(client)
    anonymize_user(org_member)
    assert Client().get("/api/v1/organizations/", **bearer(raw)).status_code == 401


# --- staff and auditors: only from a session that passed MFA --------------------------


@pytest.mark.parametrize("persona,secret", [("staff", f.STAFF_TOTP_SECRET), ("auditor", f.AUDITOR_TOTP_SECRET)])
def test_staff_and_auditors_need_a_session_that_passed_mfa(request, client, persona, secret):
    user = request.getfixturevalue(persona)
    client.force_login(user)
    assert "two-factor" in client.get(TOKENS).content.decode()
    response = client.post(TOKENS, {"name": "CI", "scopes": ["read"]})
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('mfa_reauthenticate')}?next={TOKENS}"
    assert not ApiToken.objects.filter(user=user).exists()

    response = client.post(response["Location"], {"code": f.totp_code(secret)})
    assert response.status_code == 302
    assert response["Location"] == TOKENS
    raw = create_token(client)
    assert Client().get("/api/v1/organizations/", **bearer(raw)).status_code == 200


def test_a_password_only_reauthentication_is_not_enough(client, staff):
    client.force_login(staff)
    client.post(reverse("account_reauthenticate"), {"password": f.PASSWORD})
    assert client.post(TOKENS, {"name": "CI", "scopes": ["read"]}).status_code == 302
    assert not ApiToken.objects.filter(user=staff).exists()


def test_staff_signed_in_with_password_and_totp_can_create_a_token(client, staff):
    client.post(reverse("account_login"), {"login": staff.email, "password": f.PASSWORD})
    client.post(reverse("mfa_authenticate"), {"code": f.totp_code(f.STAFF_TOTP_SECRET)})
    create_token(client)
    assert ApiToken.objects.filter(user=staff).count() == 1


def test_members_and_evaluators_create_tokens_from_any_session(client, evaluator):
    client.force_login(evaluator)
    create_token(client)
