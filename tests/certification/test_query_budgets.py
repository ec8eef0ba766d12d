"""Query budgets (STYLE §11): the organization's release list and the staff screening
queue run the same number of queries with 5 rows and with 500."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from certification.certificates.models import Certificate
from certification.releases.models import AIModel, Application, Release
from tests import factories as f

S = Application.Status


def add_releases(org, count: int, *, start: int = 0, models_count: int = 5) -> list[Release]:
    """``count`` releases spread over ``models_count`` models, every other one with an
    application, every fifth one certified. Bulk-created: the budget is about reading."""
    models = list(AIModel.objects.filter(organization=org))
    for i in range(len(models), models_count):
        models.append(AIModel.objects.create(organization=org, name=f"Model {i}", slug=f"model-{i}"))
    releases = Release.objects.bulk_create([
        Release(ai_model=models[i % len(models)], version=f"{start + i}.0", parameter_count=1_000_000)
        for i in range(count)
    ])
    return releases


def add_applications(releases, framework, status, *, owner=None, certify_every: int = 0) -> list[Application]:
    now = timezone.now()
    apps = Application.objects.bulk_create([
        Application(release=r, framework_version=framework, status=status, tier=1 + i % 2, owner=owner,
                    submitted_at=now - timedelta(days=i % 40), first_submitted_at=now - timedelta(days=i % 40))
        for i, r in enumerate(releases)
    ])
    if certify_every:
        Certificate.objects.bulk_create([
            Certificate(number=f"RRC-TEST-{a.pk:06d}", application=a, release=a.release,
                        organization=a.release.ai_model.organization, framework_version=framework, tier=a.tier,
                        issued_at=now, expires_at=now + timedelta(days=365))
            for a in apps[::certify_every]
        ])
    return apps


def count_queries(client, url: str) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries), [q["sql"] for q in ctx.captured_queries]


def test_release_list_runs_the_same_queries_for_5_and_500_releases(framework, client, org, org_admin):
    client.force_login(org_admin)
    url = reverse("certification:model-list")
    small = add_releases(org, 5)
    add_applications(small[::2], framework, S.SUBMITTED, certify_every=2)
    # Warm up: the session, content types and the like are cached after the first request.
    client.get(url)
    few, few_sql = count_queries(client, url)

    many = add_releases(org, 495, start=5)
    add_applications(many[::2], framework, S.SUBMITTED, certify_every=5)
    assert Release.objects.filter(ai_model__organization=org).count() == 500
    lots, lots_sql = count_queries(client, url)

    assert lots == few, "\n".join(lots_sql)
    # The budget itself, one line per query:
    #  1 the session
    #  2 the user
    #  3 is the user staff? (MFA middleware: staff must have MFA)
    #  4 is the user an accredited auditor? (same middleware)
    #  5 the user's memberships with their organizations (current organization)
    #  6 the organization's models
    #  7 their releases (prefetch)
    #  8 the releases' applications, newest first (prefetch; the template takes the first)
    #  9 the releases' certificates (prefetch)
    # 10 unread notifications count (navigation in base.html)
    assert few == 10, "\n".join(few_sql)
    page = client.get(url).content.decode()
    assert page.count("/releases/") >= 500


def test_screening_queue_runs_the_same_queries_for_5_and_500_applications(framework, client, staff):
    client.force_login(staff)
    url = reverse("certification:screening-queue")
    orgs = [f.OrganizationFactory() for _ in range(5)]
    other_staff = f.make_staff(mfa=False)
    for i, org in enumerate(orgs):
        owner = (staff, other_staff, None)[i % 3]
        add_applications(add_releases(org, 1, models_count=1), framework, (S.SUBMITTED, S.SCREENING)[i % 2],
                         owner=owner if i % 2 else None)
    client.get(url)
    few, few_sql = count_queries(client, url)

    for i, org in enumerate(orgs):
        releases = add_releases(org, 99, start=1, models_count=3)
        add_applications(releases, framework, (S.SUBMITTED, S.SCREENING)[i % 2],
                         owner=(staff, other_staff)[i % 2] if i % 2 else None)
    assert Application.objects.filter(status__in=[S.SUBMITTED, S.SCREENING]).count() == 500
    lots, lots_sql = count_queries(client, url)

    assert lots == few, "\n".join(lots_sql)
    # 1 the session
    # 2 the user
    # 3 is the user staff? (MFA middleware and staff_required share the cached answer)
    # 4 has the user a TOTP authenticator? (MFA middleware)
    # 5 the applications joined with release, model, organization, framework version, owner
    # 6 the total for the page links (COUNT)
    # 7 unread notifications count (navigation in base.html)
    assert few == 7, "\n".join(few_sql)
    assert client.get(url + "?owner=none").status_code == 200
