"""Token scopes (read, write, attest, staff), attest tokens (fresh authentication, one hour) and
the attestation API asking what the attestation page asks."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import URLPattern, get_resolver, reverse
from django.utils import timezone
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from certification.releases import applications
from certification.releases.models import Application
from portal import accounts
from portal.api_auth import TokenScopes, requires_scope
from portal.models import ApiToken, AuditEntry
from tests import factories as f
from tests.certification.factories import make_release

TOKENS = "/account/tokens/"
ORGS = "/api/v1/organizations/"


def token_for(user, *scopes: str, fresh: bool = False) -> str:
    _token, raw = accounts.create_api_token(user, f"t{ApiToken.objects.count()}", scopes=scopes,
                                            fresh_authentication=fresh)
    return raw


def bearer(raw: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def new_key(response) -> str | None:
    match = re.search(r'id="new-token">(rrp_[\w-]+)<', response.content.decode())
    return match.group(1) if match else None


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"


# --- the tokens page --------------------------------------------------------------------


def test_read_is_the_default_and_staff_is_offered_to_staff_only(client, org_member, staff):
    client.force_login(org_member)
    page = client.get(TOKENS).content.decode()
    assert re.search(r'<input type="checkbox" name="scopes" value="read"[^>]*checked', page)
    assert not re.search(r'value="write"[^>]*checked', page)
    assert 'value="write"' in page and 'value="attest"' in page
    assert 'value="staff"' not in page
    client.force_login(staff)
    assert 'value="staff"' in client.get(TOKENS).content.decode()


def test_the_staff_scope_is_refused_to_non_staff(client, org_member):
    client.force_login(org_member)
    response = client.post(TOKENS, {"name": "CI", "scopes": ["read", "staff"]})
    assert response.status_code == 200
    assert response.context["form"].errors["scopes"]
    assert not ApiToken.objects.exists()
    with pytest.raises(accounts.ApiTokenError, match="staff"):
        accounts.create_api_token(org_member, "CI", scopes=["staff"])


def test_no_scope_or_an_unknown_scope_is_refused(client, org_member):
    client.force_login(org_member)
    assert client.post(TOKENS, {"name": "CI"}).context["form"].errors["scopes"] == ["Choose at least one scope."]
    assert client.post(TOKENS, {"name": "CI", "scopes": ["root"]}).context["form"].errors["scopes"]
    with pytest.raises(accounts.ApiTokenError, match="Unknown scope: root"):
        accounts.create_api_token(org_member, "CI", scopes=["root"])
    assert not ApiToken.objects.exists()


def test_the_list_shows_each_tokens_scopes_and_the_audit_entry_names_them(client, org_member):
    client.force_login(org_member)
    response = client.post(TOKENS, {"name": "CI", "scopes": ["read", "write"]})
    assert new_key(response)
    token = ApiToken.objects.get(user=org_member)
    assert token.scopes == ["read", "write"] and token.expires_at is None
    assert '<td class="token-scopes">read, write</td>' in client.get(TOKENS).content.decode()
    entry = AuditEntry.objects.get(action="portal.api_token.created")
    assert entry.payload["scopes"] == ["read", "write"]


def test_a_staff_member_creates_a_staff_token_after_mfa(client, staff):
    client.force_login(staff)
    client.post(reverse("mfa_reauthenticate"), {"code": f.totp_code(f.STAFF_TOTP_SECRET)})
    response = client.post(TOKENS, {"name": "Queue", "scopes": ["read", "staff"]})
    assert new_key(response)
    assert ApiToken.objects.get(user=staff).scopes == ["read", "staff"]


# --- enforcement -------------------------------------------------------------------------


def test_a_read_token_reads_but_does_not_write(org_member):
    raw = token_for(org_member, "read")
    api = Client()
    assert api.get(ORGS, **bearer(raw)).status_code == 200
    response = api.post(ORGS, {"name": "New Org", "country": "DE"}, content_type="application/json", **bearer(raw))
    assert response.status_code == 403
    assert "'write' scope" in response.json()["detail"]


def test_a_write_token_writes_but_does_not_read(org_member):
    raw = token_for(org_member, "write")
    api = Client()
    response = api.post(ORGS, {"name": "New Org", "country": "DE"}, content_type="application/json", **bearer(raw))
    assert response.status_code == 201, response.content
    response = api.get(ORGS, **bearer(raw))
    assert response.status_code == 403 and "'read' scope" in response.json()["detail"]


def test_the_browser_session_is_not_limited_by_scopes(client, org_member):
    client.force_login(org_member)
    response = client.post(ORGS, {"name": "New Org", "country": "DE"}, content_type="application/json")
    assert response.status_code == 201


class _StaffView(APIView):
    token_scope = "staff"

    def get(self, request):
        return Response({"ok": True})


class _MixedView(APIView):
    def get(self, request):
        return Response({"ok": True})

    @requires_scope("attest")
    def post(self, request):
        return Response({"ok": True})


@pytest.mark.parametrize("view,method,scopes,allowed", [
    (_StaffView, "get", ["read"], False),
    (_StaffView, "get", ["staff"], True),
    (_MixedView, "get", ["read"], True),
    (_MixedView, "post", ["write"], False),
    (_MixedView, "post", ["attest"], True),
])
def test_a_view_or_action_names_the_scope_it_needs(db, org_member, view, method, scopes, allowed):
    token = ApiToken(user=org_member, scopes=scopes)
    request = getattr(APIRequestFactory(), method)("/x/")
    force_authenticate(request, user=org_member, token=token)
    response = view.as_view()(request)
    assert (response.status_code == 200) is allowed
    if not allowed:
        assert "scope" in response.data["detail"]


def test_requires_scope_knows_the_scopes():
    with pytest.raises(ValueError):
        requires_scope("admin")


def test_every_api_view_checks_token_scopes():
    """A view that sets its own permission_classes drops the default ones: it must keep TokenScopes,
    unless it is public and read-only."""

    def views(resolver):
        for pattern in resolver.url_patterns:
            if isinstance(pattern, URLPattern):
                cls = getattr(pattern.callback, "cls", None)
                if cls is not None:
                    yield pattern, cls
            else:
                yield from views(pattern)

    escaping = []
    for pattern, cls in views(get_resolver()):
        classes = getattr(pattern.callback, "initkwargs", {}).get("permission_classes") or cls.permission_classes
        if TokenScopes in classes:
            continue
        actions = getattr(pattern.callback, "actions", None) or {}
        methods = set(actions) if actions else {m for m in cls.http_method_names if hasattr(cls, m)}
        public = all(issubclass(p, AllowAny) for p in classes)
        if public and (methods <= {"get", "head", "options"} or not cls.authentication_classes):
            continue  # read-only, or reads no token at all
        escaping.append(f"{pattern.pattern} {cls.__name__} {sorted(methods)}")
    assert not escaping, "API views without TokenScopes:\n" + "\n".join(escaping)


STAFF_CHECK = re.compile(r"\b_staff\(|require_staff\(|is_alliance_staff|StaffAPIMixin")
# Operations open to staff and to the organization's own people: a write token is enough.
STAFF_OR_MEMBER = {"RenewView.post", "OrganizationViewSet.update"}


def _api_handlers():
    """(route, method, view class, handler) of every API operation."""

    def patterns(resolver, prefix=""):
        for pattern in resolver.url_patterns:
            if isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern), pattern
            else:
                yield from patterns(pattern, prefix + str(pattern.pattern))

    for route, pattern in patterns(get_resolver()):
        cls = getattr(pattern.callback, "cls", None)
        if cls is None or not route.startswith("api/"):
            continue
        actions = getattr(pattern.callback, "actions", None) or {
            m: m for m in cls.http_method_names if hasattr(cls, m)}
        for method, name in actions.items():
            if method not in ("get", "head", "options"):
                yield route, method, cls, getattr(cls, name)


def test_every_staff_only_api_operation_needs_the_staff_scope():
    """An operation whose code checks that the caller is Alliance staff needs a token with the
    staff scope: a staff member's everyday read/write token cannot approve, suspend or assign."""
    import inspect

    from portal.api_auth import required_scope

    missing, staff_operations = [], 0
    for route, method, cls, handler in _api_handlers():
        source = inspect.getsource(handler)
        if f"{cls.__name__}.{handler.__name__}" in STAFF_OR_MEMBER:
            continue
        if not (STAFF_CHECK.search(source) or any(base.__name__ == "StaffAPIMixin" for base in cls.__mro__)):
            continue
        staff_operations += 1
        view = cls()
        view.action = next((name for name, fn in vars(cls).items() if fn is handler), None) or method
        request = type("R", (), {"method": method.upper()})()
        if required_scope(request, view) != ApiToken.STAFF:
            missing.append(f"{method.upper()} {route} ({cls.__name__}.{handler.__name__})")
    assert staff_operations > 15
    assert not missing, "staff-only operations a write token can call:\n" + "\n".join(missing)


@pytest.mark.django_db
def test_a_staff_members_write_token_cannot_approve(staff):
    """Scopes are checked before anything else: the application need not even exist."""
    raw = token_for(staff, ApiToken.READ, ApiToken.WRITE)
    response = Client().post("/api/v1/applications/999999/approve/", **bearer(raw))
    assert response.status_code == 403
    assert "'staff' scope" in response.json()["detail"]
    with_staff = Client().post("/api/v1/applications/999999/approve/", **bearer(token_for(staff, ApiToken.STAFF)))
    assert with_staff.status_code == 404


# --- attest tokens -----------------------------------------------------------------------


def test_an_attest_token_needs_a_fresh_authentication_and_expires_in_an_hour(client, org_admin):
    client.force_login(org_admin)
    response = client.post(TOKENS, {"name": "Filing", "scopes": ["attest"]})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_reauthenticate"))
    assert not ApiToken.objects.exists()
    # After the password, the suspended POST resumes and creates the token.
    response = client.post(response["Location"], {"password": f.PASSWORD})
    assert new_key(response), response.get("Location")
    token = ApiToken.objects.get(user=org_admin)
    assert token.scopes == ["attest"]
    assert timedelta(minutes=59) < token.expires_at - timezone.now() <= timedelta(hours=1)
    assert "expires" in client.get(TOKENS).content.decode()


def test_an_account_with_totp_gives_its_code_for_an_attest_token(client, auditor):
    client.force_login(auditor)
    # The MFA session staff and auditors need for any token is not enough: the code must be fresh.
    response = client.post(TOKENS, {"name": "Filing", "scopes": ["read", "attest"]})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("mfa_reauthenticate"))
    response = client.post(response["Location"], {"code": f.totp_code(f.AUDITOR_TOTP_SECRET)})
    assert new_key(response), response.get("Location")
    assert ApiToken.objects.get(user=auditor).scopes == ["read", "attest"]


def test_a_password_alone_is_not_enough_where_the_account_has_totp(client, staff):
    client.force_login(staff)
    client.post(reverse("account_reauthenticate"), {"password": f.PASSWORD})
    response = client.post(TOKENS, {"name": "Filing", "scopes": ["attest"]})
    assert response["Location"].startswith(reverse("mfa_reauthenticate"))
    assert not ApiToken.objects.exists()


def test_the_api_cannot_make_an_attest_token_without_a_fresh_authentication(org_admin):
    with pytest.raises(accounts.ApiTokenError, match="fresh authentication"):
        accounts.create_api_token(org_admin, "CI", scopes=["attest"])


def test_an_expired_token_gets_401(org_member):
    raw = token_for(org_member, "read", "attest", fresh=True)
    assert Client().get(ORGS, **bearer(raw)).status_code == 200
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = Client().get(ORGS, **bearer(raw))
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]
    assert "expired" in _listing(org_member)


def _listing(user) -> str:
    client = Client()
    client.force_login(user)
    return client.get(TOKENS).content.decode()


def test_an_expired_tokens_name_can_be_used_again(client, org_member):
    token_for(org_member, "attest", fresh=True)
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1), name="CI")
    client.force_login(org_member)
    assert new_key(client.post(TOKENS, {"name": "CI", "scopes": ["read"]}))


# --- filing the attestation through the API -------------------------------------------


@pytest.fixture
def draft(framework, org, org_admin):
    """A Tier 1 draft ready to file: statements 1, 2, 3 and 6."""
    return applications.start_application(make_release(org, org_admin), org_admin)


def submit(raw: str, app: Application, **body):
    data = {"signer_name": "Ada Admin", "signer_title": "CTO", "affirmed": [1, 2, 3, 6], **body}
    return Client().post(f"/api/v1/applications/{app.pk}/submit/", data, content_type="application/json",
                         **bearer(raw))


def test_filing_needs_the_attest_scope(draft, org_admin):
    response = submit(token_for(org_admin, "read", "write"), draft)
    assert response.status_code == 403
    assert "'attest' scope" in response.json()["detail"]
    draft.refresh_from_db()
    assert draft.submitted_at is None
    response = submit(token_for(org_admin, "attest", fresh=True), draft)
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "submitted"
    assert AuditEntry.objects.filter(action="certification.application.submitted", actor=org_admin).exists()


def test_every_statement_of_the_tier_must_be_affirmed(draft, org_admin):
    raw = token_for(org_admin, "attest", fresh=True)
    response = submit(raw, draft, affirmed=[1, 2, 3])
    assert response.status_code == 400
    [message] = response.json()["affirmed"]
    assert message.startswith("Affirm statement 6 to file the attestation.")
    response = submit(raw, draft, affirmed=[1, 2, 3, 6, 4])  # 4 is a Tier 3 statement
    assert response.status_code == 400
    assert "No statement 4" in response.json()["affirmed"][0]
    draft.refresh_from_db()
    assert draft.submitted_at is None


@pytest.mark.parametrize("field,value", [("signer_name", ""), ("signer_title", "   "), ("signer_name", "A\u202eB")])
def test_the_signer_is_named_as_on_the_page(draft, org_admin, field, value):
    response = submit(token_for(org_admin, "attest", fresh=True), draft, **{field: value})
    assert response.status_code == 400
    assert field in response.json()


def test_a_member_cannot_file_even_with_an_attest_token(draft, org_member):
    response = submit(token_for(org_member, "attest", fresh=True), draft)
    assert response.status_code in (400, 403)
    draft.refresh_from_db()
    assert draft.submitted_at is None
