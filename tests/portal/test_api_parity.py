"""Everything a person can do in the browser is in the authenticated API (DESIGN §7.1).

``PARITY`` maps every browser URL pattern that accepts POST (a form action) to its API operations
(``"METHOD /api/v1/path/{param}/"``, as the OpenAPI schema names them) or to the reason it has none.
A pattern accepts POST when a POST to it is not answered 405 (tried as staff, an organization
admin and an evaluator, each in a transaction rolled back). So a new form without a row fails
``test_every_browser_post_has_a_row``, like a new page without a row fails the permission walk
(tests/portal/test_permissions.py, whose URL arguments this test reuses).

A row of an operation another part of issue 14 is adding gets ``pending="<part>"``: its path is not
checked against the schema until the part lands.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.db import transaction
from django.test import Client
from django.urls import get_resolver
from drf_spectacular.generators import SchemaGenerator

from tests.portal.test_permissions import (  # noqa: F401 - world and _private_storage are fixtures
    PREFIX_ROUTES,
    _private_storage,
    default_kwargs,
    fill,
    row_for,
    walk,
    world,
)

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class Api:
    operations: tuple[str, ...]
    pending: str = ""  # the part of issue 14 adding the operation


@dataclass(frozen=True)
class NoApi:
    reason: str


def api(*operations: str, pending: str = "") -> Api:
    for op in operations:
        method, _sep, path = op.partition(" ")
        assert method in HTTP_METHODS and path.startswith("/api/"), f"not 'METHOD /api/...': {op!r}"
    return Api(operations, pending)


# Reasons shared by several rows.
GET_PAGE = NoApi("A page without a form: it answers a POST like a GET and changes nothing; its data is in the "
                 "API's GET operations.")
SESSION_ONLY = NoApi("Browser session state only (which organization the pages show); API calls name the "
                     "organization in each request.")

PARITY: dict[str, Api | NoApi] = {
    # --- portal ---------------------------------------------------------------------------
    "organizations/": GET_PAGE,
    "organizations/new/": api("POST /api/v1/organizations/"),
    "organizations/<slug:slug>/": api("PATCH /api/v1/organizations/{slug}/"),
    "organizations/<slug:slug>/members/": api("POST /api/v1/organizations/{slug}/invitations/"),
    "organizations/<slug:slug>/members/<int:pk>/role/": api("PATCH /api/v1/organizations/{slug}/members/{member_id}/"),
    "organizations/<slug:slug>/members/<int:pk>/remove/": api(
        "DELETE /api/v1/organizations/{slug}/members/{member_id}/"),
    # Leaving is removing one's own membership.
    "organizations/<slug:slug>/leave/": api("DELETE /api/v1/organizations/{slug}/members/{member_id}/"),
    "organizations/<slug:slug>/switch/": SESSION_ONLY,
    # The language switch keeps a signed-in person's choice on the account, as the profile's language does.
    "i18n/setlang/": api("PATCH /api/v1/account/profile/"),
    "organizations/<slug:slug>/invitations/<int:pk>/revoke/": api(
        "DELETE /api/v1/organizations/{slug}/invitations/{invitation_id}/"),
    "invitations/<str:token>/": api("POST /api/v1/invitations/accept/"),
    "notifications/<int:pk>/read/": api("POST /api/v1/notifications/{id}/read/"),
    "notifications/read-all/": api("POST /api/v1/notifications/read-all/"),
    "account/profile/": api("PATCH /api/v1/account/profile/"),
    "account/delete/": api("POST /api/v1/account/delete/"),
    "account/tokens/": api("POST /api/v1/account/tokens/"),
    "account/tokens/<int:pk>/revoke/": api("POST /api/v1/account/tokens/{id}/revoke/"),
    "account/notifications/": api("PATCH /api/v1/account/notification-settings/"),
    "account/calendar/": api("POST /api/v1/account/calendar/rotate/", "DELETE /api/v1/account/calendar/"),
    # The language switch keeps a signed-in user's choice on the profile; API clients send Accept-Language.
    # --- certification: framework ---------------------------------------------------------------
    "tier/": api("POST /api/v1/classify/"),
    "framework/": GET_PAGE,
    "framework/<str:version>/": GET_PAGE,
    "framework/<str:version>/changes/": GET_PAGE,
    "staff/framework/new/": api("POST /api/v1/framework-versions/"),
    "staff/framework/<str:version>/edit/": api("PUT /api/v1/framework-versions/{version}/rules/"),
    "staff/framework/<str:version>/publish/": api("POST /api/v1/framework-versions/{version}/publish/"),
    "staff/framework/<str:version>/texts/": api("PUT /api/v1/framework-versions/{version}/translations/"),
    # --- certification: releases and applications -------------------------------------------
    "contact/confirm/<str:token>/": NoApi(
        "The emailed link the vulnerability contact follows: it proves that mailbox, which has no account; "
        "the organization requests it with POST /api/v1/releases/{id}/contact-confirmation/."),
    "models/new/": api("POST /api/v1/models/"),
    "models/<int:pk>/releases/new/": api("POST /api/v1/releases/"),
    "releases/<int:pk>/edit/": api("PATCH /api/v1/releases/{id}/"),
    # The artifacts (or their manifest's entries) are part of the release.
    "releases/<int:pk>/artifacts/": api("PATCH /api/v1/releases/{id}/"),
    "releases/<int:pk>/sections/<str:section>/": api("PUT /api/v1/releases/{id}/sections/{section}/",
                                                      "POST /api/v1/releases/{id}/benchmark-results/"),
    "releases/<int:pk>/benchmarks/<int:result_pk>/delete/": api(
        "DELETE /api/v1/releases/{id}/benchmark-results/{result_id}/"),
    "releases/<int:pk>/evidence/": api("POST /api/v1/releases/{id}/evidence/"),
    "releases/<int:pk>/upstreams/": api("POST /api/v1/releases/{id}/upstreams/"),
    "releases/<int:pk>/upstreams/<int:upstream_pk>/delete/": api(
        "DELETE /api/v1/releases/{id}/upstreams/{upstream_id}/"),
    "evidence/<int:pk>/delete/": api("DELETE /api/v1/releases/{id}/evidence/{evidence_id}/"),
    "releases/<int:pk>/apply/": api("POST /api/v1/releases/{id}/apply/"),
    "releases/<int:pk>/raise-tier/": api("POST /api/v1/releases/{id}/raise-tier/"),
    "releases/<int:pk>/modelcard/import/": api("POST /api/v1/releases/{id}/model-card/import/"),
    "applications/<int:pk>/attest/": api("POST /api/v1/applications/{id}/submit/"),
    "applications/<int:pk>/withdraw/": api("POST /api/v1/applications/{id}/withdraw/"),
    "staff/benchmarks/": api("POST /api/v1/benchmarks/{slug}/establish/"),
    "applications/<int:pk>/screen/": api("POST /api/v1/applications/{id}/screen/"),
    "applications/<int:pk>/request-changes/": api("POST /api/v1/applications/{id}/request-changes/"),
    "applications/<int:pk>/accept/": api("POST /api/v1/applications/{id}/accept/"),
    "applications/<int:pk>/hand-over/": api("POST /api/v1/applications/{id}/hand-over/"),
    "applications/<int:pk>/complete-review/": api("POST /api/v1/applications/{id}/complete-review/"),
    # --- community review --------------------------------------------------------------------------
    "review/windows/<int:pk>/enrol/": api("POST /api/v1/review/windows/{id}/enrol/"),
    "review/windows/<int:pk>/withdraw/": api("POST /api/v1/review/windows/{id}/withdraw/"),
    "review/windows/<int:pk>/override/": api("POST /api/v1/review/windows/{id}/override-conflict/"),
    "review/windows/<int:pk>/findings/new/": api("POST /api/v1/review/findings/"),
    "review/findings/<int:pk>/edit/": api("PATCH /api/v1/review/findings/{id}/"),
    "review/findings/<int:pk>/submit/": api("POST /api/v1/review/findings/{id}/submit/"),
    "review/findings/<int:pk>/delete/": api("DELETE /api/v1/review/findings/{id}/"),
    "review/findings/<int:pk>/attachments/": api("POST /api/v1/review/findings/{id}/attachments/"),
    "review/findings/<int:pk>/triage/": api("POST /api/v1/review/findings/{id}/triage/"),
    "review/findings/<int:pk>/respond/": api("POST /api/v1/review/findings/{id}/respond/"),
    "review/findings/<int:pk>/rejoinder/": api("POST /api/v1/review/findings/{id}/rejoinder/"),
    # --- certificates, appeals, concerns ------------------------------------------------------
    "registry/<str:number>/concern/": api("POST /api/v1/certificates/{number}/concerns/"),
    "verify/": NoApi(
        "Checks an uploaded attestation envelope in the browser; integrators check the same offline "
        "(README: Verifying certificates) or look a certificate up with GET /api/v1/verify/."),
    "registry/<str:number>/renew/": api("POST /api/v1/certificates/{number}/renew/"),
    "registry/<str:number>/suspend/": api("POST /api/v1/certificates/{number}/suspend/"),
    "registry/<str:number>/reinstate/": api("POST /api/v1/certificates/{number}/reinstate/"),
    "registry/<str:number>/revoke/": api("POST /api/v1/certificates/{number}/revoke/"),
    "applications/<int:pk>/appeal/": api("POST /api/v1/applications/{id}/appeal/"),
    "staff/appeals/<int:pk>/": api("POST /api/v1/appeals/{id}/decide/"),
    "staff/concerns/<int:pk>/dismiss/": api("POST /api/v1/staff/concerns/{id}/dismiss/"),
    "incidents/<int:pk>/acknowledge/": api("POST /api/v1/incidents/{id}/acknowledge/"),
    "incidents/<int:pk>/investigate/": api("POST /api/v1/incidents/{id}/investigate/"),
    "incidents/<int:pk>/resolve/": api("POST /api/v1/incidents/{id}/resolve/"),
    "incidents/<int:pk>/severity/": api("POST /api/v1/incidents/{id}/severity/"),
    "applications/<int:pk>/approve/": api("POST /api/v1/applications/{id}/approve/"),
    "applications/<int:pk>/reject/": api("POST /api/v1/applications/{id}/reject/"),
    # --- transparency report -----------------------------------------------------------------
    "staff/report/refresh/": api("POST /api/v1/staff/report/refresh/"),
    "staff/report/<int:year>/publish/": api("POST /api/v1/staff/report/{year}/publish/"),
    # --- auditor network ---------------------------------------------------------------------
    "network/join/<str:role>/": api("POST /api/v1/auditors/"),
    "network/me/listing/": api("POST /api/v1/auditors/{id}/listing/"),
    "network/me/affiliations/": api("POST /api/v1/auditors/{id}/affiliations/"),
    "offers/<int:pk>/accept/": api("POST /api/v1/offers/{id}/accept/"),
    "offers/<int:pk>/decline/": api("POST /api/v1/offers/{id}/decline/"),
    "offers/<int:pk>/withdraw/": api("POST /api/v1/offers/{id}/withdraw/"),
    # The report form saves the draft or files it.
    "engagements/<int:pk>/report/": api("PUT /api/v1/engagements/{id}/report/",
                                        "POST /api/v1/engagements/{id}/file-report/"),
    "engagements/<int:pk>/conflict/": api("POST /api/v1/engagements/{id}/declare-conflict/"),
    "engagements/<int:pk>/reassign/": api("POST /api/v1/engagements/{id}/reassign/"),
    "conditions/<int:pk>/resolve/": api("POST /api/v1/engagements/{id}/resolve-condition/"),
    "conditions/<int:pk>/accept/": api("POST /api/v1/engagements/{id}/accept-condition/"),
    "conditions/<int:pk>/return/": api("POST /api/v1/engagements/{id}/return-condition/"),
    "staff/accreditations/<int:pk>/approve/": api("POST /api/v1/auditors/{id}/approve/"),
    "staff/accreditations/<int:pk>/reject/": api("POST /api/v1/auditors/{id}/reject/"),
    "staff/accreditations/<int:pk>/suspend/": api("POST /api/v1/auditors/{id}/suspend/"),
    "staff/accreditations/<int:pk>/reinstate/": api("POST /api/v1/auditors/{id}/reinstate/"),
    # The page sends the reviewed proposal's offers; the API proposes, then staff create each offer.
    "staff/assignments/batch/": api("POST /api/v1/auditors/batch-proposal/", "POST /api/v1/offers/"),
    "staff/assignments/<int:pk>/offers/": api("POST /api/v1/offers/"),
    "staff/assignments/<int:pk>/override/": api("POST /api/v1/auditors/override-conflict/"),
}

# Third-party URL trees: one reason each (their patterns are not probed).
PREFIX_PARITY: dict[str, NoApi] = {
    "accounts/": NoApi(
        "allauth: sign-in, sign-up, sign-out, email addresses, password change and reset, re-authentication "
        "and two-factor setup are the browser session's own business; a token is made from such a session."),
    "admin/": NoApi("The Django admin, for superusers running the deployment, not a portal role."),
}


def browser_routes() -> list[str]:
    return [r for r in walk(get_resolver()) if not r.startswith("api/")]


def accepts_post(client_for, url: str) -> bool:
    """True unless a POST is answered 405 (by any persona: the method check does not depend on who asks)."""
    for client in client_for:
        with transaction.atomic():
            status = client().post(url, {}).status_code
            transaction.set_rollback(True)
        if status == 405:
            return False
    return True


@pytest.fixture
def probes(world):
    def signed_in(user):
        def make():
            client = Client()
            client.force_login(user)
            return client

        return make

    return [signed_in(world.users[p]) for p in ("staff", "org_admin", "evaluator")]


def test_every_browser_post_has_a_row(world, probes):
    missing, stale = [], []
    for route in browser_routes():
        if any(route.startswith(prefix) for prefix in PREFIX_PARITY):
            continue
        found = row_for(route)
        if found is None:
            continue  # no row in the permission walk: that test names it, and its URL cannot be built here
        _key, entry = found
        url = fill(route, {**default_kwargs(world), **(entry.kwargs(world) if entry.kwargs else {})})
        posts = accepts_post(probes, url)
        if posts and route not in PARITY:
            missing.append(route)
        elif not posts and route in PARITY:
            stale.append(route)
    assert not missing, (
        "Browser URL patterns that accept POST without a row in tests/portal/test_api_parity.py PARITY "
        "(name the API operation, or the reason there is none):\n" + "\n".join(f"  {r!r}" for r in missing))
    assert not stale, f"PARITY rows for patterns that answer POST with 405: {stale}"


def test_every_row_names_a_url_pattern():
    routes = browser_routes()
    stale = [r for r in PARITY if r not in routes]
    stale += [p for p in PREFIX_PARITY if not any(r.startswith(p) for r in routes)]
    assert not stale, f"rows without a URL pattern: {stale}"
    assert set(PREFIX_PARITY) <= set(PREFIX_ROUTES), "a third-party tree the permission walk does not know"


def test_every_api_operation_is_in_the_schema(db):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = {f"{method.upper()} {path}" for path, item in schema["paths"].items() for method in item
                  if method.upper() in HTTP_METHODS}
    absent = [(route, op) for route, row in PARITY.items() if isinstance(row, Api) and not row.pending
              for op in row.operations if op not in operations]
    assert not absent, "API operations named in PARITY but not in /api/schema/:\n" + "\n".join(
        f"  {route!r}: {op}" for route, op in absent)


def test_every_reason_is_written_out():
    for route, row in {**PARITY, **PREFIX_PARITY}.items():
        assert isinstance(row, (Api, NoApi)), route
        if isinstance(row, NoApi):
            assert len(row.reason) > 40, f"{route!r}: say why there is no API operation"
        else:
            assert row.operations, route
