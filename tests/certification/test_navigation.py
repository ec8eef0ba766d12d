"""Each role finds its way (issue 12 §5): the staff application page links to every part of the review,
the release page reflects a filed audit report, auditors and evaluators get their own navigation and
are never invited to create an organization, the console's count is its queue's, the deadlines page
lists only actionable work as overdue, and applicants get a standalone manifest script."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from auditors.models import Engagement
from certification.releases import applications, checklist
from certification.releases.models import Application
from portal import deadlines
from portal.models import Deadline
from tests import factories as f
from tests.auditors.helpers import engage, file_report, in_review_application, make_accredited_auditor
from tests.certification.factories import submitted_application

S = Application.Status


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"


def hrefs(response) -> set[str]:
    return set(re.findall(r'href="([^"]+)"', response.content.decode()))


def item(response, rid: str) -> checklist.ChecklistItem:
    return next(i for i in response.context["items"] if i.id == rid)


# --- the staff application page and the release page ---------------------------------------------------


def test_staff_application_page_links_to_offers_engagements_reports_window_findings_appeals_concerns(
        framework, client_for, org, org_admin, staff):
    app = in_review_application(org, org_admin, staff)
    engagement = engage(app, make_accredited_auditor(), staff)
    file_report(engagement)
    window = app.review_window

    links = hrefs(client_for(staff).get(reverse("certification:application-detail", args=[app.pk])))

    assert reverse("auditors:staff-application", args=[app.pk]) in links  # suggestions and offers
    assert reverse("auditors:application-audit", args=[app.pk]) in links  # engagements
    assert reverse("auditors:engagement-detail", args=[engagement.pk]) in links
    assert reverse("auditors:engagement-report", args=[engagement.pk]) in links  # the filed report
    assert reverse("certification:review-window", args=[window.pk]) in links
    assert reverse("certification:application-findings", args=[app.pk]) in links
    assert reverse("certification:appeal-list") in links
    assert reverse("certification:concern-list") in links


def test_the_organization_sees_its_audit_and_findings_but_not_the_staff_pages(framework, client_for, org, org_admin,
                                                                              staff):
    app = in_review_application(org, org_admin, staff)

    links = hrefs(client_for(org_admin).get(reverse("certification:application-detail", args=[app.pk])))

    assert reverse("auditors:application-audit", args=[app.pk]) in links
    assert reverse("certification:application-findings", args=[app.pk]) in links
    assert reverse("auditors:staff-application", args=[app.pk]) not in links
    assert reverse("certification:concern-list") not in links


def test_release_page_reflects_a_filed_audit_report(framework, client_for, org, org_admin, staff):
    app = in_review_application(org, org_admin, staff)
    url = reverse("certification:release-detail", args=[app.release_id])
    client = client_for(org_admin)

    audit = item(client.get(url), "third_party_audit")
    assert (audit.status, audit.note) == (checklist.PROCESS, "Waiting for an auditor to accept.")

    engagement = engage(app, make_accredited_auditor(), staff)
    audit = item(client.get(url), "third_party_audit")
    assert (audit.status, audit.note) == (checklist.PROCESS, "Audit under way: 0 of 1 reports filed.")

    file_report(engagement, "pass")
    response = client.get(url)
    audit = item(response, "third_party_audit")
    assert audit.status == checklist.COMPLETED
    assert audit.note.startswith("Audit report filed ") and audit.note.endswith(": Pass.")
    assert "Audit report filed" in response.content.decode()


def test_a_failed_report_or_an_open_condition_does_not_complete_the_audit(framework, client_for, org, org_admin,
                                                                          staff):
    app = in_review_application(org, org_admin, staff)
    file_report(engage(app, make_accredited_auditor(), staff), "pass_with_conditions",
                conditions=["Publish the red-teaming summary."])
    audit = item(client_for(org_admin).get(reverse("certification:release-detail", args=[app.release_id])),
                 "third_party_audit")
    assert audit.status == checklist.PROCESS
    assert "1 condition is not met yet." in audit.note


def test_release_page_says_when_the_review_window_closed(framework, client_for, org, org_admin, staff):
    app = in_review_application(org, org_admin, staff)
    url = reverse("certification:release-detail", args=[app.release_id])
    window = item(client_for(org_admin).get(url), "community_review")
    assert window.status == checklist.PROCESS and window.note.startswith("Window open until ")

    type(app.review_window).objects.filter(pk=app.review_window.pk).update(closes_at=timezone.now() - timedelta(1))
    window = item(client_for(org_admin).get(url), "community_review")
    assert window.status == checklist.COMPLETED and window.note.startswith("Window closed ")


# --- navigation of each role ------------------------------------------------------------------------------


def nav(response) -> str:
    return re.search(r'<nav aria-label="Main">(.*?)</nav>', response.content.decode(), re.S).group(1)


def test_auditors_get_their_audits_and_no_invitation_to_create_an_organization(client_for, auditor):
    client = client_for(auditor)
    dashboard = client.get(reverse("portal:dashboard"))
    assert "Your audits" in nav(dashboard)
    assert f'href="{reverse("auditors:my-network")}"' in nav(dashboard)
    for url in (reverse("portal:dashboard"), reverse("portal:organization-list")):
        assert "Create an organization" not in client.get(url).content.decode(), url
    assert "Organizations" not in nav(dashboard)  # no organization of their own to work in


def test_evaluators_get_review_windows_and_no_invitation_to_create_an_organization(client_for, evaluator):
    client = client_for(evaluator)
    dashboard = client.get(reverse("portal:dashboard"))
    assert "Review windows" in nav(dashboard)
    assert f'href="{reverse("certification:review-windows")}"' in nav(dashboard)
    assert "Your audits" not in nav(dashboard)
    assert "Create an organization" not in dashboard.content.decode()


def test_staff_are_not_invited_to_create_an_organization(client_for, staff):
    client = client_for(staff)
    for url in (reverse("portal:dashboard"), reverse("portal:organization-list")):
        assert "Create an organization" not in client.get(url).content.decode(), url
    assert "Organizations" in nav(client.get(reverse("portal:dashboard")))  # staff manage them


def test_a_new_user_is_invited_to_create_an_organization(client_for, db):
    client = client_for(f.UserFactory())
    for url in (reverse("portal:dashboard"), reverse("portal:organization-list")):
        assert "Create an organization" in client.get(url).content.decode(), url


def test_an_auditor_who_belongs_to_an_organization_keeps_its_links(client_for, auditor, org):
    f.MembershipFactory(organization=org, user=auditor, role="member")
    assert "Organizations" in nav(client_for(auditor).get(reverse("portal:dashboard")))


def test_apply_as_an_auditor_tells_a_visitor_to_sign_up_or_sign_in_first(client, db):
    page = client.get(reverse("portal:home")).content.decode()
    assert "Apply as an auditor" in page
    text = re.sub(r"<[^>]+>", "", page)
    assert "create an account or sign in first" in text
    assert f'<a href="{reverse("account_signup")}">create an account</a>' in page
    assert f'<a href="{reverse("account_login")}">sign in</a>' in page


def test_a_signed_in_user_is_not_told_to_sign_in(client_for, db):
    page = client_for(f.UserFactory()).get(reverse("portal:home")).content.decode()
    assert "sign in first" not in page


# --- the staff console counts its queue -------------------------------------------------------------------


def test_staff_console_count_is_the_screening_queue_row_count(framework, client_for, org, org_admin, staff):
    submitted_application(org, org_admin, version="1.0")  # submitted
    screening = submitted_application(org, org_admin, version="2.0")
    applications.start_screening(screening, staff)
    in_review_application(org, org_admin, staff, version="3.0")  # in review (Tier 3)
    decided = submitted_application(org, org_admin, version="4.0")
    applications.start_screening(decided, staff)
    applications.accept_into_review(decided, staff)
    applications.complete_review(decided, staff)  # decision pending
    client = client_for(staff)

    queue = client.get(reverse("certification:screening-queue"))
    rows = len(queue.context["applications"].object_list)
    console = client.get(reverse("portal:staff-console"))

    assert rows == 4
    assert console.context["queue_count"] == rows
    assert "4 applications waiting" in console.content.decode()
    assert client.get(reverse("portal:dashboard")).context["staff_queue"]["queue"] == rows


# --- the deadlines page lists actionable work ----------------------------------------------------------------


def overdue_titles(client, **params) -> list[str]:
    response = client.get(reverse("portal:staff-deadlines"), params)
    return [(row["title"], str(row["target"])) for row in response.context["rows"] if row["overdue"]]


def test_deadlines_page_lists_only_work_still_to_do_as_overdue(framework, client_for, org, org_admin, staff):
    from tests.certification.certificate_helpers import backdate, certify

    long_ago = timezone.now() - timedelta(days=400)
    # A certificate that expired long ago: the expiry happened, there is nothing to do.
    cert = backdate(certify(org, org_admin, staff, version="9.0"), 800)
    assert cert.effective_status() == "expired"
    Deadline.objects.filter(kind="certificate_expiry", object_id=cert.pk).update(due_at=long_ago)
    # An application that lapsed when its changes deadline passed.
    lapsed = submitted_application(org, org_admin, version="1.0")
    applications.start_screening(lapsed, staff)
    applications.request_changes(lapsed, staff, {"model_card": "Say what it is for."})
    Deadline.objects.filter(kind="changes_requested", object_id=lapsed.pk).update(due_at=long_ago)
    applications.lapse(Application.objects.get(pk=lapsed.pk))
    Deadline.objects.filter(kind="changes_requested", object_id=lapsed.pk).update(state=Deadline.State.PASSED)
    # A decision still waiting for staff past its deadline: that is work.
    waiting = submitted_application(org, org_admin, version="2.0")
    applications.start_screening(waiting, staff)
    applications.accept_into_review(waiting, staff)
    applications.complete_review(waiting, staff)
    Deadline.objects.filter(kind="staff_decision", object_id=waiting.pk).update(due_at=long_ago)
    client = client_for(staff)

    for params in ({}, {"state": "overdue"}):
        overdue = overdue_titles(client, **params)
        assert [t for t, _target in overdue] == ["Staff decision (all gates met)"], params
        listed = [row["deadline"].pk for row in client.get(reverse("portal:staff-deadlines"), params).context["rows"]]
        assert not Deadline.objects.filter(pk__in=listed, kind__in=["certificate_expiry", "changes_requested"]).exists()
    # They are history: listed with what is done.
    done = client.get(reverse("portal:staff-deadlines"), {"state": "closed"})
    kinds = {row["deadline"].kind for row in done.context["rows"] if row["moved_on"]}
    assert {"certificate_expiry", "changes_requested"} <= kinds
    assert "Passed: nothing left to do" in done.content.decode()


def test_is_pending_follows_the_object_state(framework, org, org_admin, staff):
    app = submitted_application(org, org_admin)
    deadline = deadlines.open_deadline(app, "staff_decision", timezone.now() - timedelta(days=1))
    assert not deadlines.is_pending(deadline, app)  # submitted, not awaiting its decision
    Application.objects.filter(pk=app.pk).update(status=S.DECISION_PENDING)
    app.refresh_from_db()
    assert deadlines.is_pending(deadline, app)
    assert not deadlines.is_pending(deadline, None)  # its object is gone


# --- the manifest script ---------------------------------------------------------------------------------------


@pytest.fixture
def model_dir(tmp_path):
    root = tmp_path / "model"
    files = {
        "config.json": b'{"model_type": "llama"}',
        "model-00001-of-00002.safetensors": b"\x00\x01" * 70_000,
        "model-00002-of-00002.safetensors": b"\xff" * 1234,
        "tokenizer/tokenizer.json": b'{"vocab": {"\xc3\xa9": 1}}',
        "tokenizer/extra/merges.txt": b"a b\n",
        "Z-upper.txt": b"sorted by code point",
        "empty.bin": b"",
        "café/été.txt": b"unicode names",
        ".gitattributes": b"*.safetensors filter=lfs",
        ".cache/huggingface/download.lock": b"lock",
    }
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "linked.json").symlink_to(root / "config.json")  # a Hub snapshot's files are links
    (root / "loop").symlink_to(root, target_is_directory=True)  # never followed
    return root


def test_standalone_script_prints_exactly_what_the_command_prints(model_dir):
    script = Path(finders.find("tools/release_manifest.py"))
    out = StringIO()
    call_command("release_manifest", str(model_dir), "--quiet", stdout=out)
    # -I -S: no site-packages, no project on the path; the standard library alone.
    result = subprocess.run([sys.executable, "-I", "-S", str(script), str(model_dir), "--quiet"],
                            capture_output=True, check=True, cwd=model_dir.parent)
    assert result.stdout == out.getvalue().encode()
    assert b'"path": "linked.json"' in result.stdout and b"loop/" not in result.stdout
    # With progress, the manifest on stdout is the same and progress goes to stderr.
    noisy = subprocess.run([sys.executable, "-I", "-S", str(script), str(model_dir), "--progress-mib", "1"],
                           capture_output=True, check=True)
    assert noisy.stdout == result.stdout
    assert b"files," in noisy.stderr


def test_standalone_script_refuses_a_missing_directory(tmp_path):
    script = Path(finders.find("tools/release_manifest.py"))
    result = subprocess.run([sys.executable, "-I", "-S", str(script), str(tmp_path / "nope")], capture_output=True)
    assert result.returncode == 2
    assert b"is not a directory" in result.stderr and result.stdout == b""


def test_artifacts_page_offers_the_script_not_the_portals_checkout(framework, client_for, org, org_admin):
    from tests.certification.factories import make_release

    release = make_release(org, org_admin)
    page = client_for(org_admin).get(reverse("certification:release-artifacts", args=[release.pk])).content.decode()
    assert re.search(r'href="/static/tools/release_manifest(\.[0-9a-f]+)?\.py" download="release_manifest.py"', page)
    assert "python3 release_manifest.py /path/to/model &gt; manifest.json" in page
    assert ".venv/bin/python" not in page
    assert "For portal operators" in page and "manage.py release_manifest" in page


def test_engagements_listed_are_the_seat_holders(framework, client_for, org, org_admin, staff):
    """An engagement that ended (reassigned) is not shown as a seat on the application page."""
    app = in_review_application(org, org_admin, staff)
    engagement = engage(app, make_accredited_auditor(name="Ended Auditor"), staff)
    Engagement.objects.filter(pk=engagement.pk).update(status=Engagement.Status.ENDED)
    page = client_for(staff).get(reverse("certification:application-detail", args=[app.pk])).content.decode()
    assert "Ended Auditor" not in page
