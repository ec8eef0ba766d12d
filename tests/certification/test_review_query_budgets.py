"""Query budgets (STYLE §11): a window's page and the organization's findings list run
the same number of queries with 5 findings and with 500.

The window page for staff: session, user, staff group (the user's cached check), the
window with its application, release, model and organization, the enrolment, the
findings with author, triage, duplicate, response and rejoinder (one query), their
attachments (one), the enrolled evaluators (one), the frozen revision (one) and the
gates (the window and three counts). The findings list: the application, the
membership, the window, the findings (one) and their attachments (one), the gates."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from certification.review.models import Finding, FindingAttachment, FindingResponse, Rejoinder
from tests.certification.review_helpers import enrolled, in_review


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"


def add_findings(window, author, responder, count: int, start: int = 0) -> None:
    """Findings in every state, some answered, with attachments and rejoinders. Bulk-created:
    the budget is about reading."""
    now = timezone.now()
    statuses = [Finding.Status.SUBMITTED, Finding.Status.ACCEPTED, Finding.Status.INVALID, Finding.Status.DRAFT]
    findings = Finding.objects.bulk_create([
        Finding(window=window, author=author, status=statuses[i % 4], title=f"Finding {start + i}",
                category="bias", severity="low", submitted_severity="low",
                submitted_at=None if statuses[i % 4] == Finding.Status.DRAFT else now,
                triaged_at=now if i % 4 in (1, 2) else None, triaged_by=responder if i % 4 in (1, 2) else None)
        for i in range(count)
    ])
    accepted = [x for x in findings if x.status == Finding.Status.ACCEPTED]
    FindingResponse.objects.bulk_create([
        FindingResponse(finding=x, kind="disputed", details="No.", responded_by=responder) for x in accepted[::2]])
    Rejoinder.objects.bulk_create([Rejoinder(finding=x, text="Yes.", author=author) for x in accepted[::4]])
    FindingAttachment.objects.bulk_create([
        FindingAttachment(finding=x, display_name="a.txt", stored_name=f"s-{start}-{x.pk}", family="text", size=1,
                          sha256="0" * 64) for x in findings[::3]])


def count_queries(client, url: str) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries), [q["sql"] for q in ctx.captured_queries]


@pytest.fixture
def app(framework, org, org_admin, staff):
    return in_review(org, org_admin, staff)


@pytest.mark.parametrize("persona", ["staff", "author"])
def test_window_page_runs_the_same_queries_for_5_and_500_findings(client, app, staff, org_admin, persona):
    window = app.review_window
    author = enrolled(window)
    user = staff if persona == "staff" else author
    client.force_login(user)
    url = reverse("certification:review-window", args=[window.pk])
    add_findings(window, author, org_admin, 5)
    small, _ = count_queries(client, url)
    add_findings(window, author, org_admin, 495, start=5)
    large, sql = count_queries(client, url)
    assert small == large, "\n".join(sql)
    assert large <= 16, large


def test_organization_findings_list_runs_the_same_queries_for_5_and_500_findings(client, app, org_admin):
    window = app.review_window
    author = enrolled(window)
    client.force_login(org_admin)
    url = reverse("certification:application-findings", args=[app.pk])
    add_findings(window, author, org_admin, 5)
    small, _ = count_queries(client, url)
    page = client.get(url).content.decode()
    assert "Finding 1" in page and "Finding 3" not in page  # drafts are not the organization's
    add_findings(window, author, org_admin, 495, start=5)
    large, sql = count_queries(client, url)
    assert small == large, "\n".join(sql)
    assert large <= 13, large
