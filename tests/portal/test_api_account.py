"""The user's own settings in the API (portal/api_account.py): notification delivery, the
calendar feed, personal API tokens and account deletion, with the pages' rules and audit entries."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from portal import accounts, digests
from portal.models import ApiToken, AuditEntry, CalendarFeed, Membership, NotificationPreference, User
from tests import factories as f

SETTINGS = "/api/v1/account/notification-settings/"
CALENDAR = "/api/v1/account/calendar/"
TOKENS = "/api/v1/account/tokens/"
DELETE = "/api/v1/account/delete/"


def bearer(raw: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def token_client(user, scopes=("read", "write")) -> tuple[Client, ApiToken]:
    token, raw = accounts.create_api_token(user, f"test-{len(scopes)}-{ApiToken.objects.count()}", scopes=scopes)
    client = Client(**bearer(raw))
    return client, token


def audited(action: str, user) -> bool:
    return AuditEntry.objects.filter(action=action, actor=user).exists()


def test_every_operation_needs_a_signed_in_user(client):
    for method, url in (("get", SETTINGS), ("patch", SETTINGS), ("get", CALENDAR), ("post", CALENDAR + "rotate/"),
                        ("get", TOKENS), ("post", TOKENS), ("post", DELETE)):
        assert getattr(client, method)(url).status_code == 401, (method, url)


# --- notification settings ----------------------------------------------------------------------------


def test_notification_settings_list_every_choosable_kind(client_for, org_member):
    body = client_for(org_member).get(SETTINGS).json()
    kinds = [kind for kind, _label in digests.choosable_kinds()]
    assert [p["kind"] for p in body["preferences"]] == kinds
    assert {p["delivery"] for p in body["preferences"]} == {"immediate"}


def test_moving_a_kind_to_the_digest_uses_the_pages_service(org_member):
    kind = digests.choosable_kinds()[0][0]
    client, _token = token_client(org_member)
    response = client.patch(SETTINGS, {"preferences": {kind: "digest"}}, content_type="application/json")
    assert response.status_code == 200, response.json()
    assert response.json()["changed"] == 1
    assert {p["kind"]: p["delivery"] for p in response.json()["preferences"]}[kind] == "digest"
    assert NotificationPreference.objects.get(user=org_member, kind=kind).delivery == "digest"
    assert audited("portal.notifications.preferences_changed", org_member)
    # The same choice again changes nothing.
    again = client.patch(SETTINGS, {"preferences": {kind: "digest"}}, content_type="application/json")
    assert again.json()["changed"] == 0


@pytest.mark.parametrize("preferences", [{"no-such-kind": "digest"}, {"__KIND__": "weekly"}, {}, "digest"])
def test_bad_notification_settings_are_400_naming_preferences(client_for, org_member, preferences):
    if isinstance(preferences, dict) and "__KIND__" in preferences:
        preferences = {digests.choosable_kinds()[0][0]: "weekly"}
    response = client_for(org_member).patch(SETTINGS, {"preferences": preferences}, content_type="application/json")
    assert response.status_code == 400
    assert "preferences" in response.json()
    assert not NotificationPreference.objects.exists()


def test_always_immediate_kinds_cannot_move_to_the_digest(client_for, org_member):
    if not digests.ALWAYS_IMMEDIATE:
        pytest.skip("no always-immediate kind")
    kind = sorted(digests.ALWAYS_IMMEDIATE)[0]
    response = client_for(org_member).patch(SETTINGS, {"preferences": {kind: "digest"}},
                                            content_type="application/json")
    assert response.status_code == 400 and kind in response.json()["preferences"][0]


# --- calendar feed -------------------------------------------------------------------------------------


def test_rotating_the_calendar_feed_replaces_its_secret_address(client_for, org_member):
    c = client_for(org_member)
    assert c.get(CALENDAR).json() == {"active": False, "created_at": None, "last_used_at": None}
    first = c.post(CALENDAR + "rotate/")
    assert first.status_code == 201
    url = urlsplit(first.json()["url"]).path
    assert Client().get(url).status_code == 200
    assert c.get(CALENDAR).json()["active"] is True
    second = c.post(CALENDAR + "rotate/")
    assert Client().get(url).status_code == 404  # the previous address stops working
    assert Client().get(urlsplit(second.json()["url"]).path).status_code == 200
    assert AuditEntry.objects.filter(action="portal.calendar_feed.created", actor=org_member).count() == 2
    assert c.delete(CALENDAR).status_code == 204
    assert Client().get(urlsplit(second.json()["url"]).path).status_code == 404
    assert audited("portal.calendar_feed.revoked", org_member)
    assert not CalendarFeed.objects.filter(user=org_member).exists()


def test_calendar_feed_is_per_user(client_for, org_member, other_member):
    client_for(org_member).post(CALENDAR + "rotate/")
    assert client_for(other_member).get(CALENDAR).json()["active"] is False
    client_for(other_member).delete(CALENDAR)
    assert CalendarFeed.objects.filter(user=org_member).exists()


# --- personal API tokens ---------------------------------------------------------------------------------


def test_create_a_token_with_scopes_shown_once(org_member):
    client, _token = token_client(org_member)
    response = client.post(TOKENS, {"name": "CI pipeline", "scopes": ["read", "write"]},
                           content_type="application/json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["name"] == "CI pipeline" and body["scopes"] == ["read", "write"] and body["expires_at"] is None
    raw = body["key"]
    assert Client().get("/api/v1/organizations/", **bearer(raw)).status_code == 200
    listing = client.get(TOKENS).json()
    assert "CI pipeline" in [t["name"] for t in listing]
    assert raw not in str(listing)
    entry = AuditEntry.objects.filter(action="portal.api_token.created", actor=org_member).order_by("-seq").first()
    assert entry.payload["name"] == "CI pipeline"


def test_a_token_is_read_only_by_default(client_for, org_member):
    response = client_for(org_member).post(TOKENS, {"name": "reader"}, content_type="application/json")
    assert response.status_code == 201 and response.json()["scopes"] == ["read"]


@pytest.mark.parametrize(("payload", "field"), [
    ({"name": ""}, "name"),
    ({"name": "x" * 101}, "name"),
    ({"name": "CI\u202e"}, "name"),
    ({"name": "CI", "scopes": ["admin"]}, "scopes"),
    ({"name": "CI", "scopes": []}, "scopes"),
    ({"name": "CI", "scopes": ["attest"]}, "scopes"),  # needs a fresh sign-in: the page only
    ({"name": "CI", "scopes": ["staff"]}, "scopes"),  # staff only
])
def test_bad_token_requests_are_400_naming_the_field(client_for, org_member, payload, field):
    response = client_for(org_member).post(TOKENS, payload, content_type="application/json")
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert not ApiToken.objects.filter(user=org_member).exists()


def test_token_names_are_unique_among_active_tokens(client_for, org_member):
    c = client_for(org_member)
    assert c.post(TOKENS, {"name": "CI"}, content_type="application/json").status_code == 201
    response = c.post(TOKENS, {"name": "CI"}, content_type="application/json")
    assert response.status_code == 400 and "name" in response.json()


def test_a_read_token_cannot_create_tokens(org_member):
    client, _token = token_client(org_member, scopes=("read",))
    response = client.post(TOKENS, {"name": "more"}, content_type="application/json")
    assert response.status_code == 403
    assert ApiToken.objects.filter(user=org_member).count() == 1


def test_staff_create_tokens_only_from_a_session_that_passed_mfa(client, staff):
    # With a token (even one created properly): refused, as the page refuses a session without MFA.
    api_client, _token = token_client(staff, scopes=("read", "write", "staff"))
    assert api_client.post(TOKENS, {"name": "more"}, content_type="application/json").status_code == 403
    client.force_login(staff)
    assert client.post(TOKENS, {"name": "more"}, content_type="application/json").status_code == 403
    client.post(reverse("mfa_reauthenticate"), {"code": f.totp_code(f.STAFF_TOTP_SECRET)})
    response = client.post(TOKENS, {"name": "more", "scopes": ["read", "staff"]}, content_type="application/json")
    assert response.status_code == 201, response.json()
    assert response.json()["scopes"] == ["read", "staff"]


def test_revoke_a_token(org_member, other_member):
    client, own = token_client(org_member)
    _their_client, other = token_client(other_member)
    assert client.post(f"{TOKENS}{other.pk}/revoke/").status_code == 404  # someone else's
    victim, raw = accounts.create_api_token(org_member, "old", scopes=("read",))
    response = client.post(f"{TOKENS}{victim.pk}/revoke/")
    assert response.status_code == 200 and response.json()["revoked_at"]
    assert Client().get("/api/v1/organizations/", **bearer(raw)).status_code == 401
    assert AuditEntry.objects.filter(action="portal.api_token.revoked", actor=org_member).count() == 1
    assert client.post(f"{TOKENS}{victim.pk}/revoke/").status_code == 200  # twice: nothing more
    assert AuditEntry.objects.filter(action="portal.api_token.revoked", actor=org_member).count() == 1
    other.refresh_from_db()
    assert other.revoked_at is None


def test_token_list_is_your_own(client_for, org_member, other_member):
    accounts.create_api_token(other_member, "theirs")
    accounts.create_api_token(org_member, "mine")
    assert [t["name"] for t in client_for(org_member).get(TOKENS).json()] == ["mine"]


# --- account deletion ------------------------------------------------------------------------------------


def test_delete_account_with_password_and_confirmation(org_member):
    client, token = token_client(org_member)
    response = client.post(DELETE, {"confirm": "DELETE", "password": f.PASSWORD}, content_type="application/json")
    assert response.status_code == 204
    user = User.objects.get(pk=org_member.pk)
    assert user.email != org_member.email and not user.has_usable_password()
    assert not Membership.objects.filter(user=user).exists()
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditEntry.objects.filter(action="portal.user.deleted", actor=user).exists()
    assert client.get(TOKENS).status_code == 401


@pytest.mark.parametrize(("payload", "field"), [
    ({"confirm": "DELETE", "password": "wrong"}, "password"),
    ({"confirm": "DELETE"}, "password"),
    ({"confirm": "delete", "password": f.PASSWORD}, "confirm"),
    ({"password": f.PASSWORD}, "confirm"),
])
def test_account_deletion_asks_for_the_password_and_delete(client_for, org_member, payload, field):
    response = client_for(org_member).post(DELETE, payload, content_type="application/json")
    assert response.status_code == 400
    assert field in response.json()
    assert User.objects.get(pk=org_member.pk).email == org_member.email
    assert not audited("portal.user.deleted", org_member)


def test_the_last_admin_of_an_organization_with_members_cannot_delete(client_for, org_admin, org_member):
    response = client_for(org_admin).post(DELETE, {"confirm": "DELETE", "password": f.PASSWORD},
                                          content_type="application/json")
    assert response.status_code == 400
    assert "non_field_errors" in response.json()
    assert Membership.objects.filter(user=org_admin, role="admin").exists()


def test_password_guesses_are_rate_limited(client_for, org_member):
    c = client_for(org_member)
    statuses = [c.post(DELETE, {"confirm": "DELETE", "password": f"guess-{i}"}, content_type="application/json")
                .status_code for i in range(12)]
    assert 429 in statuses
    assert set(statuses) <= {400, 429}


# --- profile ---------------------------------------------------------------------------------------------


def test_profile_changes_name_and_time_zone_with_the_pages_audit_entry(org_member):
    client, _token = token_client(org_member)
    assert client.get("/api/v1/account/profile/").json()["email"] == org_member.email
    response = client.patch("/api/v1/account/profile/", {"time_zone": "Europe/Paris"}, content_type="application/json")
    assert response.status_code == 200, response.json()
    assert response.json()["time_zone"] == "Europe/Paris" and response.json()["name"] == org_member.name
    assert User.objects.get(pk=org_member.pk).time_zone == "Europe/Paris"
    entry = AuditEntry.objects.filter(action="portal.user.profile_updated", actor=org_member).get()
    assert entry.payload == {"fields": ["time_zone"]}


@pytest.mark.parametrize(("payload", "field"), [
    ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ({"name": "Eve\u202e"}, "name"),
    ({"name": "x" * 151}, "name"),
    ({"email": "new@example.org", "time_zone": 5}, "time_zone"),
])
def test_bad_profile_input_is_400_naming_the_field(client_for, org_member, payload, field):
    response = client_for(org_member).patch("/api/v1/account/profile/", payload, content_type="application/json")
    assert response.status_code == 400
    assert field in response.json()
    user = User.objects.get(pk=org_member.pk)
    assert (user.email, user.time_zone) == (org_member.email, org_member.time_zone)
    assert not audited("portal.user.profile_updated", org_member)


def test_the_profile_page_still_saves_through_the_same_service(client_for, org_member):
    response = client_for(org_member).post("/account/profile/", {"name": "Ada", "time_zone": "UTC"})
    assert response.status_code == 302
    assert User.objects.get(pk=org_member.pk).name == "Ada"
    assert audited("portal.user.profile_updated", org_member)
