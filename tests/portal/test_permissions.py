"""Every URL pattern, every persona: the GET status is what the table says (STYLE §11).

The walk covers the root resolver recursively, so a new pattern without a row
in ``ROUTES`` fails ``test_every_url_pattern_has_a_row`` with its route named.
Adding a work item's pages means adding rows here:

    "releases/<int:pk>/": row(404, anonymous=LOGIN, org_admin=200, org_member=200, staff=200,
                              kwargs=lambda w: {"pk": w.release.pk}),

``row(default, **per_persona)``: the expected status for every persona not
named; a string is a redirect to a URL starting with it (``LOGIN`` is the
sign-in page). URL keyword arguments are
filled by name from the world below (``slug`` is the organization's slug,
``format`` is ``json``...); a row gives ``kwargs`` for anything else, such as
``pk``, as a function of the world, so ``pk`` is a real row of the
organization (or of the persona) and a 404 can only come from access rules.

Rows that need objects of their own (a release, an application) add them to
the ``world`` fixture and read them in ``kwargs``.

Third-party URL trees (allauth, the Django admin) get one row each in
``PREFIX_ROUTES``, checked on a representative page.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from certification.certificates import services as certificate_services
from certification.releases import applications
from certification.releases import services as release_services
from certification.releases.models import Upstream
from portal import organizations
from portal.models import ApiToken, Notification, hash_secret

PERSONAS = ("anonymous", "org_admin", "org_member", "other_member", "auditor", "evaluator", "staff")
# A string is a redirect: 302 to a URL starting with it.
LOGIN = "/accounts/login/"
REAUTHENTICATE = "/accounts/reauthenticate/"


@dataclass(frozen=True)
class Row:
    expected: dict[str, int | str]
    kwargs: Callable[[SimpleNamespace], dict] | None = None
    path: str | None = None  # a representative page, for PREFIX_ROUTES


def row(default: int | str, *, kwargs=None, path: str | None = None, **per_persona: int | str) -> Row:
    unknown = set(per_persona) - set(PERSONAS)
    assert not unknown, f"unknown personas {unknown}"
    return Row({p: per_persona.get(p, default) for p in PERSONAS}, kwargs=kwargs, path=path)


# Shorthands for the common shapes.
def public(status: int = 200, **kw) -> Row:
    return row(status, **kw)


def signed_in(status: int = 200, **kw) -> Row:
    """Any signed-in persona gets ``status``; anonymous is sent to sign in."""
    return row(status, anonymous=LOGIN, **kw)


def org_page(member: int = 200, admin: int | None = None, staff: int = 200, **kw) -> Row:
    """A page of the organization: members (and staff) see it, outsiders get 404."""
    return row(
        404,
        anonymous=LOGIN,
        org_admin=member if admin is None else admin,
        org_member=member,
        staff=staff,
        **kw,
    )


def staff_only(**kw) -> Row:
    return row(403, anonymous=LOGIN, staff=200, **kw)


def staff_decision(**kw) -> Row:
    """A staff decision page: it asks staff for a fresh authentication first."""
    return row(403, anonymous=LOGIN, staff=REAUTHENTICATE, **kw)


def post_only(**kw) -> Row:
    """GET on a POST-only view: 405 once signed in."""
    return signed_in(405, **kw)


def api(status: int = 200, **kw) -> Row:
    """An authenticated API endpoint: 401 with a Bearer challenge for anonymous."""
    return row(status, anonymous=401, **kw)


ROUTES: dict[str, Row] = {
    # --- portal -----------------------------------------------------------------------------
    "": public(),
    "healthz": public(),
    # The language switch takes a POST from anyone, visitors included.
    "i18n/setlang/": public(405),
    "dashboard/": signed_in(),
    "organizations/": signed_in(),
    "organizations/new/": signed_in(),
    "organizations/<slug:slug>/": org_page(),
    "organizations/<slug:slug>/members/": org_page(),
    "organizations/<slug:slug>/members/<int:pk>/role/": post_only(kwargs=lambda w: {"pk": w.member_membership.pk}),
    "organizations/<slug:slug>/members/<int:pk>/remove/": post_only(
        kwargs=lambda w: {"pk": w.member_membership.pk}
    ),
    "organizations/<slug:slug>/leave/": post_only(),
    "organizations/<slug:slug>/switch/": post_only(),
    "organizations/<slug:slug>/invitations/<int:pk>/revoke/": post_only(kwargs=lambda w: {"pk": w.invitation.pk}),
    # Members get 403 (they know the organization exists), staff are not members.
    "organizations/<slug:slug>/audit/": org_page(member=403, admin=200, staff=403),
    # The invitation is for someone else: anonymous sees it, other accounts are told (400).
    "invitations/<str:token>/": row(400, anonymous=200),
    "notifications/": signed_in(),
    "notifications/<int:pk>/read/": post_only(kwargs=lambda w: {"pk": w.notification.pk}),
    "notifications/read-all/": post_only(),
    "account/profile/": signed_in(),
    # Needs a recent (re-)authentication: force_login leaves no record, so reauthenticate.
    "account/delete/": signed_in(REAUTHENTICATE),
    "account/tokens/": signed_in(),
    "account/tokens/<int:pk>/revoke/": post_only(kwargs=lambda w: {"pk": w.token.pk}),
    "staff/": staff_only(),
    "staff/audit/": staff_only(),
    "account/notifications/": signed_in(),
    "account/calendar/": signed_in(),
    # An unknown feed token (here the invitation's) reveals nothing.
    "calendar/<str:token>.ics": public(404),
    "staff/deadlines/": staff_only(),
    # --- API v1 -----------------------------------------------------------------------------
    "api/v1/": api(),
    "api/v1/^organizations/$": api(),
    "api/v1/^organizations/(?P<slug>[^/.]+)/$": api(404, org_admin=200, org_member=200, staff=200),
    "api/v1/^organizations/(?P<slug>[^/.]+)/members/$": api(404, org_admin=200, org_member=200, staff=200),
    # PATCH and DELETE only.
    "api/v1/^organizations/(?P<slug>[^/.]+)/members/(?P<member_id>\\d+)/$": api(405),
    "api/v1/^organizations/(?P<slug>[^/.]+)/invitations/$": api(404, org_admin=200, org_member=403, staff=403),
    "api/v1/^organizations/(?P<slug>[^/.]+)/invitations/(?P<invitation_id>\\d+)/$": api(405),
    "api/v1/^organizations/(?P<slug>[^/.]+)/audit/$": api(404, org_admin=200, org_member=403, staff=403),
    "api/v1/^invitations/accept/$": api(405),
    "api/v1/^notifications/$": api(),
    "api/v1/^notifications/unread-count/$": api(),
    "api/v1/^notifications/read-all/$": api(405),
    # The notification is the org admin's: everyone else gets 404.
    "api/v1/^notifications/(?P<pk>[^/.]+)/$": api(404, org_admin=200, kwargs=lambda w: {"pk": w.notification.pk}),
    "api/v1/^notifications/(?P<pk>[^/.]+)/read/$": api(405, kwargs=lambda w: {"pk": w.notification.pk}),
    # The user's own settings (portal/api_account.py): every signed-in persona has them.
    "api/v1/^account/profile/$": api(),
    "api/v1/^account/notification-settings/$": api(),
    "api/v1/^account/calendar/$": api(),
    "api/v1/^account/calendar/rotate/$": api(405),
    "api/v1/^account/delete/$": api(405),
    "api/v1/^account/tokens/$": api(),
    "api/v1/^account/tokens/(?P<pk>[^/.]+)/revoke/$": api(405, kwargs=lambda w: {"pk": w.token.pk}),
    # --- certification -----------------------------------------------------------------------
    "tier/": public(),
    "framework/": public(),
    "framework/<str:version>/": public(kwargs=lambda w: {"version": "2025.1"}),
    "framework/<str:version>/changes/": public(kwargs=lambda w: {"version": "2025.1"}),
    # The token is not a confirmation token: nobody learns anything.
    "contact/confirm/<str:token>/": public(404),
    "models/": signed_in(),
    # People without an organization are sent to create one.
    "models/new/": signed_in("/organizations/new/", org_admin=200, org_member=200, other_member=200),
    "models/<int:pk>/": org_page(kwargs=lambda w: {"pk": w.release.ai_model.pk}),
    # Writing needs membership: staff read releases but do not register them.
    "models/<int:pk>/releases/new/": org_page(staff=403, kwargs=lambda w: {"pk": w.release.ai_model.pk}),
    "releases/<int:pk>/": org_page(kwargs=lambda w: {"pk": w.release.pk}),
    "releases/<int:pk>/edit/": org_page(staff=403, kwargs=lambda w: {"pk": w.release.pk}),
    "releases/<int:pk>/artifacts/": org_page(staff=403, kwargs=lambda w: {"pk": w.release.pk}),
    "releases/<int:pk>/sections/<str:section>/": org_page(kwargs=lambda w: {"pk": w.release.pk, "section": "model_card"}),
    "releases/<int:pk>/benchmarks/<int:result_pk>/delete/": post_only(
        kwargs=lambda w: {"pk": w.release.pk, "result_pk": w.benchmark_result.pk}
    ),
    "releases/<int:pk>/evidence/": post_only(kwargs=lambda w: {"pk": w.release.pk}),
    "releases/<int:pk>/upstreams/": org_page(kwargs=lambda w: {"pk": w.release.pk}),
    "releases/<int:pk>/upstreams/<int:upstream_pk>/delete/": post_only(
        kwargs=lambda w: {"pk": w.release.pk, "upstream_pk": w.upstream.pk}),
    "evidence/<int:pk>/download/": org_page(kwargs=lambda w: {"pk": w.evidence.pk}),
    "evidence/<int:pk>/delete/": post_only(kwargs=lambda w: {"pk": w.evidence.pk}),
    "releases/<int:pk>/apply/": post_only(kwargs=lambda w: {"pk": w.release.pk}),
    "releases/<int:pk>/raise-tier/": staff_only(kwargs=lambda w: {"pk": w.release.pk}),
    "releases/<int:pk>/modelcard/import/": org_page(kwargs=lambda w: {"pk": w.release.pk}),
    "releases/<int:pk>/modelcard/export/": org_page(kwargs=lambda w: {"pk": w.release.pk}),
    "applications/<int:pk>/": org_page(kwargs=lambda w: {"pk": w.application.pk}),
    # Filing an attestation asks for a fresh authentication first (DESIGN §3).
    "applications/<int:pk>/attest/": signed_in(REAUTHENTICATE, kwargs=lambda w: {"pk": w.application.pk}),
    "applications/<int:pk>/withdraw/": org_page(member=403, admin=200, staff=403, kwargs=lambda w: {"pk": w.application.pk}),
    "applications/<int:pk>/revisions/<int:number>/": org_page(kwargs=lambda w: {"pk": w.application.pk, "number": 1}),
    "applications/<int:pk>/revisions/<int:number>/json/": org_page(
        kwargs=lambda w: {"pk": w.application.pk, "number": 1}),
    "staff/screening/": staff_only(),
    "staff/benchmarks/": staff_only(),
    "applications/<int:pk>/screen/": row(403, anonymous=LOGIN, staff=405, kwargs=lambda w: {"pk": w.application.pk}),
    "applications/<int:pk>/request-changes/": staff_only(kwargs=lambda w: {"pk": w.application.pk}),
    "applications/<int:pk>/accept/": row(403, anonymous=LOGIN, staff=405, kwargs=lambda w: {"pk": w.application.pk}),
    "applications/<int:pk>/hand-over/": staff_only(kwargs=lambda w: {"pk": w.application.pk}),
    "applications/<int:pk>/complete-review/": row(403, anonymous=LOGIN, staff=405, kwargs=lambda w: {"pk": w.application.pk}),
    # Staff decisions show a confirmation page after a fresh authentication (force_login leaves none).
    "applications/<int:pk>/approve/": staff_decision(kwargs=lambda w: {"pk": w.application.pk}),
    "applications/<int:pk>/reject/": staff_decision(kwargs=lambda w: {"pk": w.application.pk}),
    "staff/framework/new/": staff_only(),
    # A published version cannot change: staff are sent to its public page.
    "staff/framework/<str:version>/edit/": row(403, anonymous=LOGIN, staff="/framework/2025.1/",
                                               kwargs=lambda w: {"version": "2025.1"}),
    "staff/framework/<str:version>/publish/": row(403, anonymous=LOGIN, staff="/framework/2025.1/",
                                                  kwargs=lambda w: {"version": "2025.1"}),
    "staff/framework/<str:version>/texts/": row(403, anonymous=LOGIN, staff="/framework/2025.1/",
                                                kwargs=lambda w: {"version": "2025.1"}),
    # --- certification API ----------------------------------------------------------------
    "api/v1/classify/": public(405),
    "api/v1/^models/$": api(),
    "api/v1/^benchmarks/$": api(),
    "api/v1/^benchmarks/(?P<slug>[^/.]+)/establish/$": api(405, kwargs=lambda w: {"slug": "bbq"}),
    "api/v1/^models/(?P<pk>[^/.]+)/$": api(404, org_admin=200, org_member=200, staff=200,
                                           kwargs=lambda w: {"pk": w.release.ai_model.pk}),
    "api/v1/^releases/$": api(),
    "api/v1/^releases/(?P<pk>[^/.]+)/$": api(404, org_admin=200, org_member=200, staff=200,
                                             kwargs=lambda w: {"pk": w.release.pk}),
    "api/v1/^releases/(?P<pk>[^/.]+)/apply/$": api(405, kwargs=lambda w: {"pk": w.release.pk}),
    "api/v1/^releases/(?P<pk>[^/.]+)/benchmark-results/$": api(404, org_admin=200, org_member=200, staff=200,
                                                               kwargs=lambda w: {"pk": w.release.pk}),
    "api/v1/^releases/(?P<pk>[^/.]+)/upstreams/$": api(404, org_admin=200, org_member=200, staff=200,
                                                       kwargs=lambda w: {"pk": w.release.pk}),
    "api/v1/^releases/(?P<pk>[^/.]+)/upstreams/(?P<upstream_id>\\d+)/$": api(
        405, kwargs=lambda w: {"pk": w.release.pk, "upstream_id": w.upstream.pk}),
    "api/v1/^releases/(?P<pk>[^/.]+)/checklist/$": api(404, org_admin=200, org_member=200, staff=200,
                                                       kwargs=lambda w: {"pk": w.release.pk}),
    "api/v1/^releases/(?P<pk>[^/.]+)/evidence/$": api(404, org_admin=200, org_member=200, staff=200,
                                                      kwargs=lambda w: {"pk": w.release.pk}),
    "api/v1/^releases/(?P<pk>[^/.]+)/sections/(?P<section>[a-z_]+)/$": api(
        404, org_admin=200, org_member=200, staff=200, kwargs=lambda w: {"pk": w.release.pk, "section": "model_card"}
    ),
    "api/v1/^releases/(?P<pk>[^/.]+)/contact-confirmation/$": api(404, org_admin=200, org_member=200, staff=200,
                                                                 kwargs=lambda w: {"pk": w.release.pk}),
    "api/v1/^releases/(?P<pk>[^/.]+)/model-card/$": api(404, org_admin=200, org_member=200, staff=200,
                                                        kwargs=lambda w: {"pk": w.release.pk}),
    "api/v1/^releases/(?P<pk>[^/.]+)/model-card/import/$": api(405, kwargs=lambda w: {"pk": w.release.pk}),
    "api/v1/^releases/(?P<pk>[^/.]+)/evidence/(?P<evidence_id>\\d+)/$": api(
        405, kwargs=lambda w: {"pk": w.release.pk, "evidence_id": w.evidence.pk}),
    "api/v1/^releases/(?P<pk>[^/.]+)/benchmark-results/(?P<result_id>\\d+)/$": api(
        405, kwargs=lambda w: {"pk": w.release.pk, "result_id": w.benchmark_result.pk}),
    "api/v1/^applications/$": api(),
    "api/v1/^applications/(?P<pk>[^/.]+)/$": api(404, org_admin=200, org_member=200, staff=200,
                                                 kwargs=lambda w: {"pk": w.application.pk}),
    "api/v1/^applications/(?P<pk>[^/.]+)/accept/$": api(405, kwargs=lambda w: {"pk": w.application.pk}),
    "api/v1/^applications/(?P<pk>[^/.]+)/approve/$": api(405, kwargs=lambda w: {"pk": w.application.pk}),
    "api/v1/^applications/(?P<pk>[^/.]+)/complete-review/$": api(405, kwargs=lambda w: {"pk": w.application.pk}),
    "api/v1/^applications/(?P<pk>[^/.]+)/reject/$": api(405, kwargs=lambda w: {"pk": w.application.pk}),
    "api/v1/^applications/(?P<pk>[^/.]+)/request-changes/$": api(405, kwargs=lambda w: {"pk": w.application.pk}),
    "api/v1/^applications/(?P<pk>[^/.]+)/screen/$": api(405, kwargs=lambda w: {"pk": w.application.pk}),
    "api/v1/^applications/(?P<pk>[^/.]+)/submit/$": api(405, kwargs=lambda w: {"pk": w.application.pk}),
    "api/v1/^applications/(?P<pk>[^/.]+)/withdraw/$": api(405, kwargs=lambda w: {"pk": w.application.pk}),
    # --- community review (certification/review/views.py, api.py) ------------------------------
    # Window pages name unreleased models: vetted evaluators and staff only, 404 for everyone else.
    "review/windows/": row(404, evaluator=200, staff=200),
    "review/windows/<int:pk>/": row(404, evaluator=200, staff=200, kwargs=lambda w: {"pk": _review(w).window.pk}),
    "review/windows/<int:pk>/enrol/": row(404, anonymous=LOGIN, evaluator=200, staff=200,
                                          kwargs=lambda w: {"pk": _review(w).window.pk}),
    "review/windows/<int:pk>/withdraw/": row(404, anonymous=LOGIN, evaluator=200, staff=200,
                                             kwargs=lambda w: {"pk": _review(w).window.pk}),
    "review/windows/<int:pk>/override/": staff_only(kwargs=lambda w: {"pk": _review(w).window.pk}),
    # Filing needs access to the materials: the enrolled evaluator only.
    "review/windows/<int:pk>/findings/new/": row(404, anonymous=LOGIN, evaluator=200,
                                                 kwargs=lambda w: {"pk": _review(w).window.pk}),
    # The evaluator's submitted finding: the author, the organization and staff read it.
    "review/findings/<int:pk>/": org_page(evaluator=200, kwargs=lambda w: {"pk": _review(w).finding.pk}),
    # Submitted, so final: nobody edits it.
    "review/findings/<int:pk>/edit/": org_page(403, evaluator=403, staff=403,
                                               kwargs=lambda w: {"pk": _review(w).finding.pk}),
    "review/findings/<int:pk>/submit/": org_page(403, evaluator=200, staff=403,
                                                 kwargs=lambda w: {"pk": _review(w).finding.pk}),
    "review/findings/<int:pk>/delete/": post_only(kwargs=lambda w: {"pk": _review(w).finding.pk}),
    "review/findings/<int:pk>/attachments/": post_only(kwargs=lambda w: {"pk": _review(w).finding.pk}),
    "review/findings/<int:pk>/triage/": staff_only(kwargs=lambda w: {"pk": _review(w).finding.pk}),
    "review/findings/<int:pk>/respond/": org_page(403, admin=200, evaluator=403, staff=403,
                                                  kwargs=lambda w: {"pk": _review(w).finding.pk}),
    "review/findings/<int:pk>/rejoinder/": org_page(403, evaluator=200, staff=403,
                                                    kwargs=lambda w: {"pk": _review(w).finding.pk}),
    "review/attachments/<int:pk>/download/": org_page(evaluator=200, kwargs=lambda w: {"pk": _review(w).attachment.pk}),
    "applications/<int:pk>/findings/": org_page(kwargs=lambda w: {"pk": _review(w).window.application_id}),
    # Public once certified; the review world's release is in review: 404 for everyone.
    "releases/<int:pk>/findings/": public(404, kwargs=lambda w: {"pk": _review(w).window.application.release_id}),
    "api/v1/review/^windows/$": api(404, evaluator=200, staff=200),
    "api/v1/review/^windows/(?P<pk>[^/.]+)/$": api(404, evaluator=200, staff=200,
                                                   kwargs=lambda w: {"pk": _review(w).window.pk}),
    "api/v1/review/^windows/(?P<pk>[^/.]+)/materials/$": api(404, evaluator=200, staff=200,
                                                             kwargs=lambda w: {"pk": _review(w).window.pk}),
    "api/v1/review/^windows/(?P<pk>[^/.]+)/enrol/$": api(405, kwargs=lambda w: {"pk": _review(w).window.pk}),
    "api/v1/review/^windows/(?P<pk>[^/.]+)/withdraw/$": api(405, kwargs=lambda w: {"pk": _review(w).window.pk}),
    "api/v1/review/^windows/(?P<pk>[^/.]+)/override-conflict/$": api(405, kwargs=lambda w: {"pk": _review(w).window.pk}),
    "api/v1/review/^findings/$": api(),
    "api/v1/review/^findings/(?P<pk>[^/.]+)/$": api(404, org_admin=200, org_member=200, evaluator=200, staff=200,
                                                    kwargs=lambda w: {"pk": _review(w).finding.pk}),
    "api/v1/review/^findings/(?P<pk>[^/.]+)/submit/$": api(405, kwargs=lambda w: {"pk": _review(w).finding.pk}),
    "api/v1/review/^findings/(?P<pk>[^/.]+)/attachments/$": api(405, kwargs=lambda w: {"pk": _review(w).finding.pk}),
    "api/v1/review/^findings/(?P<pk>[^/.]+)/triage/$": api(405, kwargs=lambda w: {"pk": _review(w).finding.pk}),
    "api/v1/review/^findings/(?P<pk>[^/.]+)/respond/$": api(405, kwargs=lambda w: {"pk": _review(w).finding.pk}),
    "api/v1/review/^findings/(?P<pk>[^/.]+)/rejoinder/$": api(405, kwargs=lambda w: {"pk": _review(w).finding.pk}),
    "api/v1/review/releases/<int:pk>/findings/": public(
        404, kwargs=lambda w: {"pk": _review(w).window.application.release_id}),
    # --- API documentation ------------------------------------------------------------------
    "api/schema/": public(),
    "api/docs/": public(),
    "api/redoc/": public(),
    # --- certificates, registry, verification, appeals, concerns (certification/certificates/views/,
    # certification/certificates/api.py) --------------------------------------------------------
    "registry/": public(),
    "registry/<str:number>/": public(kwargs=lambda w: {"number": _certificate(w).number}),
    "registry/<str:number>/print/": public(kwargs=lambda w: {"number": _certificate(w).number}),
    "registry/<str:number>/attestation.json": public(kwargs=lambda w: {"number": _certificate(w).number}),
    "registry/<str:number>/badge.svg": public(kwargs=lambda w: {"number": _certificate(w).number}),
    # The OpenSSF model-signing bundle and the key that signed it (issue 18).
    "registry/<str:number>.sig": public(kwargs=lambda w: {"number": _certificate(w).number}),
    "registry/<str:number>/alliance.pub": public(kwargs=lambda w: {"number": _certificate(w).number}),
    "registry/<str:number>/README.md": public(kwargs=lambda w: {"number": _certificate(w).number}),
    # The evidence file is not marked public: 404 for everyone, members included.
    "registry/<str:number>/evidence/<int:pk>/": public(
        404, kwargs=lambda w: {"number": _certificate(w).number, "pk": w.evidence.pk}),
    "registry/<str:number>/concern/": public(kwargs=lambda w: {"number": _certificate(w).number}),
    "verify/": public(),
    "registry/<str:number>/renew/": row(404, anonymous=LOGIN, org_admin=200, org_member=403,
                                        kwargs=lambda w: {"number": _certificate(w).number}),
    "registry/<str:number>/suspend/": staff_decision(kwargs=lambda w: {"number": _certificate(w).number}),
    "registry/<str:number>/reinstate/": staff_decision(kwargs=lambda w: {"number": _certificate(w).number}),
    "registry/<str:number>/revoke/": staff_decision(kwargs=lambda w: {"number": _certificate(w).number}),
    "applications/<int:pk>/appeal/": row(404, anonymous=LOGIN, org_admin=200, org_member=403, staff=403,
                                         kwargs=lambda w: {"pk": w.application.pk}),
    "staff/appeals/": staff_only(),
    "staff/appeals/<int:pk>/": staff_decision(kwargs=lambda w: {"pk": _appeal(w).pk}),
    "staff/concerns/": staff_only(),
    "staff/concerns/<int:pk>/dismiss/": row(403, anonymous=LOGIN, staff=405, kwargs=lambda w: {"pk": 1}),
    # Post-release incidents (issue 16 §2): the list shows each persona only its organizations' incidents;
    # an incident is for its organization's members and staff (404 for anyone else), answered by its admins.
    "incidents/": signed_in(),
    "incidents/<int:pk>/": org_page(kwargs=lambda w: {"pk": _concern(w).pk}),
    "incidents/<int:pk>/acknowledge/": post_only(kwargs=lambda w: {"pk": _concern(w).pk}),
    "incidents/<int:pk>/investigate/": post_only(kwargs=lambda w: {"pk": _concern(w).pk}),
    "incidents/<int:pk>/resolve/": org_page(403, admin=200, staff=403, kwargs=lambda w: {"pk": _concern(w).pk}),
    "incidents/<int:pk>/severity/": row(403, anonymous=LOGIN, staff=405, kwargs=lambda w: {"pk": _concern(w).pk}),
    "api/v1/certificates/": public(),
    "api/v1/certificates/<str:number>/": public(kwargs=lambda w: {"number": _certificate(w).number}),
    "api/v1/certificates/<str:number>/concerns/": public(405, kwargs=lambda w: {"number": _certificate(w).number}),
    "api/v1/certificates/<str:number>/incidents/": public(kwargs=lambda w: {"number": _certificate(w).number}),
    "api/v1/^incidents/$": api(),
    "api/v1/^incidents/(?P<pk>[^/.]+)/$": api(404, org_admin=200, org_member=200, staff=200,
                                              kwargs=lambda w: {"pk": _concern(w).pk}),
    "api/v1/^incidents/(?P<pk>[^/.]+)/acknowledge/$": api(405, kwargs=lambda w: {"pk": _concern(w).pk}),
    "api/v1/^incidents/(?P<pk>[^/.]+)/investigate/$": api(405, kwargs=lambda w: {"pk": _concern(w).pk}),
    "api/v1/^incidents/(?P<pk>[^/.]+)/resolve/$": api(405, kwargs=lambda w: {"pk": _concern(w).pk}),
    "api/v1/^incidents/(?P<pk>[^/.]+)/severity/$": api(405, kwargs=lambda w: {"pk": _concern(w).pk}),
    "api/v1/certificates/<str:number>/model-signature/": public(kwargs=lambda w: {"number": _certificate(w).number}),
    "api/v1/certificates/<str:number>/suspend/": api(405, kwargs=lambda w: {"number": _certificate(w).number}),
    "api/v1/certificates/<str:number>/reinstate/": api(405, kwargs=lambda w: {"number": _certificate(w).number}),
    "api/v1/certificates/<str:number>/revoke/": api(405, kwargs=lambda w: {"number": _certificate(w).number}),
    "api/v1/certificates/<str:number>/cancel-revocation/": api(
        405, kwargs=lambda w: {"number": _certificate(w).number}),
    "api/v1/certificates/<str:number>/renew/": api(405, kwargs=lambda w: {"number": _certificate(w).number}),
    "api/v1/applications/<int:pk>/appeal/": api(405, kwargs=lambda w: {"pk": w.application.pk}),
    "api/v1/appeals/<int:pk>/decide/": api(405, kwargs=lambda w: {"pk": _appeal(w).pk}),
    # No parameter: 400 for everyone.
    "api/v1/verify/": public(400),
    "api/v1/keys/": public(),
    "api/v1/revocations/": public(),
    # --- transparency report (certification/report_views.py): a published year made on first use
    "report/": public(),
    "report/<int:year>/": public(kwargs=lambda w: {"year": _report_year(w)}),
    "report/<int:year>/report.json": public(kwargs=lambda w: {"year": _report_year(w)}),
    "report/<int:year>/data/<slug:table>.csv": public(kwargs=lambda w: {"year": _report_year(w), "table": "adoption"}),
    "report/<int:year>/data/<slug:table>.json": public(kwargs=lambda w: {"year": _report_year(w), "table": "audits"}),
    "staff/report/": staff_only(),
    "staff/report/refresh/": row(403, anonymous=LOGIN, staff=405),
    "staff/report/<int:year>/": staff_only(kwargs=lambda w: {"year": _report_year(w)}),
    "staff/report/<int:year>/publish/": staff_only(kwargs=lambda w: {"year": _report_year(w)}),
    "staff/report/<int:year>/data/<slug:table>.csv": staff_only(
        kwargs=lambda w: {"year": _report_year(w), "table": "adoption"}),
    "staff/report/<int:year>/data/<slug:table>.json": staff_only(
        kwargs=lambda w: {"year": _report_year(w), "table": "findings"}),
    "staff/analytics/": staff_only(),
    # --- staff API (issue 14): Alliance staff only, 403 for everyone else as on the pages ---------
    "api/v1/staff/deadlines/": api(403, staff=200),
    "api/v1/staff/screening-queue/": api(403, staff=200),
    "api/v1/releases/<int:pk>/raise-tier/": api(403, staff=405, kwargs=lambda w: {"pk": w.release.pk}),
    "api/v1/applications/<int:pk>/hand-over/": api(403, staff=405, kwargs=lambda w: {"pk": w.application.pk}),
    "api/v1/^framework-versions/$": api(403, staff=200),
    "api/v1/^framework-versions/(?P<version>[^/]+)/$": api(403, staff=200, kwargs=lambda w: {"version": "2025.1"}),
    "api/v1/^framework-versions/(?P<version>[^/]+)/rules/$": api(403, staff=405,
                                                                  kwargs=lambda w: {"version": "2025.1"}),
    "api/v1/^framework-versions/(?P<version>[^/]+)/publish/$": api(403, staff=405,
                                                                    kwargs=lambda w: {"version": "2025.1"}),
    "api/v1/^framework-versions/(?P<version>[^/]+)/translations/$": api(403, staff=405,
                                                                         kwargs=lambda w: {"version": "2025.1"}),
    "api/v1/staff/report/": api(403, staff=200),
    "api/v1/staff/report/refresh/": api(403, staff=405),
    "api/v1/staff/report/<int:year>/": api(403, staff=200, kwargs=lambda w: {"year": _report_year(w)}),
    "api/v1/staff/report/<int:year>/publish/": api(403, staff=405, kwargs=lambda w: {"year": _report_year(w)}),
    "api/v1/staff/concerns/": api(403, staff=200),
    "api/v1/staff/concerns/<int:pk>/dismiss/": api(403, staff=405, kwargs=lambda w: {"pk": _concern(w).pk}),
    "api/v1/staff/concerns/<int:pk>/suspend/": api(403, staff=405, kwargs=lambda w: {"pk": _concern(w).pk}),
    "api/v1/staff/appeals/": api(403, staff=200),
}


def _concern(w: SimpleNamespace):
    """A concern reported about the organization's certificate, made on first use."""
    if not hasattr(w, "concern"):
        from certification.certificates import concerns

        w.concern = concerns.report_concern(_certificate(w), summary="Leaks", details="Ask it.")
    return w.concern


def _report_year(w: SimpleNamespace) -> int:
    """Last year's transparency report, computed and published on first use."""
    if not hasattr(w, "report_year"):
        from django.utils import timezone

        from certification.transparency import rollups
        from certification.transparency import services as transparency_services

        w.report_year = timezone.now().year - 1
        rollups.refresh_rollups()
        transparency_services.publish(w.report_year, w.users["staff"],
            transparency_services.draft_digest(transparency_services.build_draft(w.report_year)))
    return w.report_year


def _certificate(w: SimpleNamespace):
    """A Tier 1 certificate of the organization, made on first use."""
    if not hasattr(w, "certificate"):
        from tests.certification.certificate_helpers import certify

        w.certificate = certify(w.org, w.users["org_admin"], w.users["staff"], version="certified-1.0")
    return w.certificate


def _appeal(w: SimpleNamespace):
    """An open appeal against a rejection of the organization, made on first use."""
    if not hasattr(w, "appeal"):
        from certification.certificates import appeals
        from tests.certification.certificate_helpers import decision_pending

        app = decision_pending(w.org, w.users["org_admin"], w.users["staff"], version="rejected-1.0")
        certificate_services.reject(app, w.users["staff"], "Incomplete")
        app.refresh_from_db()
        w.appeal = appeals.file_appeal(app, w.users["org_admin"], "Grounds")
    return w.appeal

def _review(w):
    """Built on first use: a Tier 3 application in review with its window, the world's
    evaluator enrolled (staff overrode the shared example.org domain) and their
    submitted finding with an attachment."""
    if getattr(w, "review", None) is None:
        from django.core.files.uploadedfile import SimpleUploadedFile

        from certification.releases import sample
        from certification.review import findings as review_findings
        from certification.review import services as review_services

        org_admin, staff, evaluator = w.users["org_admin"], w.users["staff"], w.users["evaluator"]
        model = release_services.register_model(w.org, org_admin, name="Large", slug="large")
        release = release_services.create_release(model, org_admin, {
            "version": "1.0", "parameter_count": 80_000_000_000, "capabilities": [], "sensitive_domains": [],
            "emergent_capabilities": False, "emergent_description": ""})
        sample.fill_documentation(release, org_admin)
        app = applications.start_application(release, org_admin)
        applications.submit_application(app, org_admin, signer_name="A", signer_title="B", affirmed=[1, 2, 3, 4, 5, 6])
        applications.start_screening(app, staff)
        applications.accept_into_review(app, staff)
        window = app.review_window
        review_services.override_conflict(window, evaluator.accreditations.get(), staff, "shared_email_domain",
                                          "Test world")
        review_services.enrol(window, evaluator)
        finding = review_findings.create_finding(window, evaluator, {
            "title": "Leak", "category": "privacy_leakage", "severity": "medium", "reproduction_steps": "Ask.",
            "expected_behaviour": "Refusal.", "observed_behaviour": "An email address."})
        attachment = review_findings.add_attachment(finding, evaluator, SimpleUploadedFile("log.txt", b"transcript"))
        review_findings.submit_finding(finding, evaluator)
        w.review = SimpleNamespace(window=window, finding=finding, attachment=attachment)
    return w.review


# The auditor network's rows live next to its tests (they build their own objects).
from tests.auditors.permission_rows import auditor_rows  # noqa: E402

ROUTES.update(auditor_rows(globals()))

# Third-party URL trees: one row each, checked on a representative page.
PREFIX_ROUTES: dict[str, Row] = {
    # allauth: account management needs a session.
    "accounts/": signed_in(path="/accounts/email/"),
    # The Django admin signs in through allauth; nobody here is a superuser (is_staff).
    "admin/": row(403, anonymous=LOGIN, path="/admin/login/"),
}

# DRF's format-suffix twin of a route (``.json``) is checked against its base row.
FORMAT_SUFFIX = r"\.(?P<format>[a-z0-9]+)/?$"


# --- the walk ----------------------------------------------------------------------------


def walk(resolver: URLResolver, prefix: str = "") -> list[str]:
    routes = []
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            routes.extend(walk(pattern, route))
        elif isinstance(pattern, URLPattern):
            routes.append(route)
    return routes


def row_for(route: str) -> tuple[str, Row] | None:
    """The table row of a route: its own, its prefix's, or (``.json`` twins) its base route's."""
    if route in ROUTES:
        return route, ROUTES[route]
    for prefix, prefix_row in PREFIX_ROUTES.items():
        if route.startswith(prefix):
            return prefix, prefix_row
    if route.endswith(FORMAT_SUFFIX):
        base = route[: -len(FORMAT_SUFFIX)]
        for candidate in (base + "/$", base + "$"):
            if candidate in ROUTES:
                return candidate, ROUTES[candidate]
    return None


CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")
GROUP = re.compile(r"\(\?P<(\w+)>(?:[^()]|\([^()]*\))*\)")


def fill(route: str, kwargs: dict) -> str:
    """Turn a route (path or regex syntax) into a URL with the given arguments."""

    def value(match: re.Match) -> str:
        name = match.group(1)
        if name not in kwargs:
            raise AssertionError(f"route {route!r}: no value for <{name}>; give the row kwargs=")
        return str(kwargs[name])

    def converter_value(match: re.Match) -> str:
        # DRF's format-suffix converter matches ".json", not "json".
        return ("." if match.group(0).startswith("<drf_format_suffix:") else "") + value(match)

    url = CONVERTER.sub(converter_value, GROUP.sub(value, route))
    url = url.replace("^", "").replace("$", "").replace("/?", "/").replace("\\.", ".")
    return "/" + url


@pytest.fixture
def world(org, other_org, org_admin, org_member, other_member, auditor, evaluator, staff):
    member_membership = org_member.memberships.get(organization=org)
    invitation, token = organizations.invite(org, org_admin, "newcomer@example.org", "member")
    notification = Notification.objects.create(user=org_admin, kind="test", subject="Hello", body="Hello")
    raw = ApiToken.generate_key()
    token_row = ApiToken.objects.create(user=org_admin, name="CI", key_hash=hash_secret(raw), hint=raw[:10])
    users = {
        "org_admin": org_admin,
        "org_member": org_member,
        "other_member": other_member,
        "auditor": auditor,
        "evaluator": evaluator,
        "staff": staff,
    }
    release, application = _certification_world(org, org_admin)
    return SimpleNamespace(
        release=release,
        application=application,
        evidence=release.evidence_files.first(),
        benchmark_result=release.benchmark_results.first(),
        upstream=Upstream.objects.create(release=release, relation="fine_tune", kind="model", value="base/base-7b"),
        org=org,
        other_org=other_org,
        users=users,
        member_membership=member_membership,
        invitation=invitation,
        invitation_token=token,
        notification=notification,
        token=token_row,
    )


def _certification_world(org, org_admin):
    """A submitted Tier 1 application of the organization, with evidence and a revision."""
    from certification.framework.models import Benchmark, FrameworkVersion
    from certification.framework.seed import seed_framework
    from certification.releases import sample

    seed_framework(FrameworkVersion, Benchmark)
    model = release_services.register_model(org, org_admin, name="Model", slug="model")
    release = release_services.create_release(model, org_admin, {
        "version": "1.0", "parameter_count": 1000, "capabilities": [], "sensitive_domains": [],
        "emergent_capabilities": False, "emergent_description": ""})
    sample.fill_documentation(release, org_admin)
    application = applications.start_application(release, org_admin)
    applications.submit_application(application, org_admin, signer_name="A", signer_title="B", affirmed=[1, 2, 3, 6])
    return release, application


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"


def default_kwargs(w: SimpleNamespace) -> dict:
    return {
        "slug": w.org.slug,
        "token": w.invitation_token,
        "format": "json",
        "member_id": w.member_membership.pk,
        "invitation_id": w.invitation.pk,
    }


def check(client: Client, url: str, expected: int | str) -> str | None:
    response = client.get(url)
    if isinstance(expected, str):
        location = response.headers.get("Location", "")
        if response.status_code == 302 and location.startswith(expected):
            return None
        return f"{response.status_code} {location}".strip()
    if response.status_code != expected:
        return f"{response.status_code} {response.headers.get('Location', '')}".strip()
    return None


def test_every_url_pattern_has_a_row():
    missing = [route for route in walk(get_resolver()) if row_for(route) is None]
    assert not missing, "URL patterns without a row in tests/portal/test_permissions.py ROUTES:\n" + "\n".join(
        f"  {route!r}" for route in missing
    )


def test_every_row_names_a_url_pattern():
    """A row left behind by a removed pattern would test nothing."""
    routes = walk(get_resolver())
    stale = [r for r in ROUTES if r not in routes]
    stale += [p for p in PREFIX_ROUTES if not any(r.startswith(p) for r in routes)]
    assert not stale, f"rows without a URL pattern: {stale}"


@pytest.mark.parametrize("persona", PERSONAS)
def test_get_status_of_every_url_pattern(persona, world):
    client = Client()
    if persona != "anonymous":
        client.force_login(world.users[persona])
    failures = []
    checked: set[str] = set()
    for route in walk(get_resolver()):
        found = row_for(route)
        if found is None:
            continue  # reported by test_every_url_pattern_has_a_row
        key, entry = found
        if entry.path is not None:
            if key in checked:
                continue
            url = entry.path
        else:
            url = fill(route, {**default_kwargs(world), **(entry.kwargs(world) if entry.kwargs else {})})
        checked.add(key)
        problem = check(client, url, entry.expected[persona])
        if problem:
            failures.append(f"  {route!r} GET {url}: expected {entry.expected[persona]}, got {problem}")
    assert not failures, f"{persona}:\n" + "\n".join(failures)
