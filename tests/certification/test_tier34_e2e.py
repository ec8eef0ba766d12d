"""The Tier 3 and Tier 4 path end to end with every gate on (issue 12 §6): no gate provider or
review hook is switched off here. Each persona drives its own pages through the test client: the
organization files, staff screen and send offers, the auditors accept and file their reports, an
evaluator enrols and files a finding, staff triage it, the organization responds; the window
closes through the deadline sweep; two different staff approve (the same one twice is refused);
the certificate verifies through the API and offline, and its attestation carries the audit and
review summaries."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from auditors.models import AuditReport, Engagement, Offer
from certification.certificates import offline
from certification.certificates.models import Certificate, Decision
from certification.releases import applications
from certification.releases import services as release_services
from certification.releases.models import Application
from certification.review.models import Finding, ReviewWindow
from portal import tasks
from tests import factories as f
from tests.auditors.helpers import make_accredited_auditor, pdf
from tests.certification.factories import make_release
from tests.certification.review_helpers import FINDING, vetted_evaluator

S = Application.Status

CASES = {
    # tier: (release facts, window days, the auditors' accredited domains)
    3: ({"parameter_count": 80_000_000_000, "capabilities": ["code_generation"]}, 30, [[]]),
    4: ({"parameter_count": 13_000_000_000, "sensitive_domains": ["biology"]}, 90, [["biology"], ["cybersecurity"]]),
}


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"


def _as(client, user):
    """A fresh session for the persona (sessions opened in the past expire when time moves on)."""
    client.force_login(user)
    return client


def _ok(response, what: str):
    assert response.status_code in (200, 302), (what, response.status_code)
    assert response.status_code == 302 or b"errorlist" not in response.content, (what, response.content[:2000])
    return response


def _file_report(client, url: str, data: dict):
    """"File the report" saves the draft with its signed PDF and leads to the confirmation page,
    which lists what will be filed; confirming files it."""
    response = client.post(url, {**data, "signed_file": pdf(), "file": "1"})
    if response.status_code == 302 and "confirm=1" in response["Location"]:
        page = client.get(response["Location"])
        assert page.status_code == 200 and b"signed" in page.content.lower()
        response = client.post(url, {"confirm_file": "1"})
    return response


def _approve(client, staff_user, app: Application):
    """Approve as a staff member would: re-authenticated, through the approval page."""
    _as(client, staff_user)
    f.mark_reauthenticated(client, staff_user)
    url = reverse("certification:application-approve", args=[app.pk])
    page = client.get(url)
    if page.status_code == 405:  # a one-click approval button (no confirmation page)
        return client.post(url)
    assert page.status_code == 200
    return client.post(url, {"confirmed": "1"})


def _artifacts(release, admin, folder) -> None:
    folder.mkdir()
    rows = []
    for i in (1, 2):
        data = f"weights shard {i} of {release}".encode()
        (folder / f"model-0000{i}.safetensors").write_bytes(data)
        rows.append({"path": f"model-0000{i}.safetensors", "size": len(data),
                     "sha256": hashlib.sha256(data).hexdigest()})
    release_services.replace_artifacts(release, admin, rows)


@pytest.mark.slow
@pytest.mark.parametrize("tier", [3, 4])
def test_tier34_path_with_every_gate_on(tier, framework, client, org, org_admin, tmp_path):
    facts, window_days, auditor_domains = CASES[tier]
    assert len(applications.GATE_PROVIDERS) >= 2 and applications.REVIEW_STARTED_HOOKS  # nothing switched off
    staff, staff2 = f.make_staff(), f.make_staff()
    auditors = [make_accredited_auditor(domains=d, mfa=True, capacity=2) for d in auditor_domains]
    evaluator = vetted_evaluator()
    release = make_release(org, org_admin, **facts)
    _artifacts(release, org_admin, tmp_path / "model")
    start = timezone.now() - timedelta(days=window_days + 3)

    with time_machine.travel(start, tick=True):
        # The organization starts the application and files the attestation (re-authenticated).
        _as(client, org_admin)
        _ok(client.post(reverse("certification:application-start", args=[release.pk])), "start")
        app = Application.objects.get(release=release)
        f.mark_reauthenticated(client, org_admin)
        _ok(client.post(reverse("certification:application-attest", args=[app.pk]), {
            "signer_name": "Ada Admin", "signer_title": "CTO",
            **{f"statement_{n}": "on" for n in range(1, 7)}}), "attest")
        app.refresh_from_db()
        assert app.status == S.SUBMITTED and app.tier == tier

        # Staff screen it and accept it into review: the window opens.
        _as(client, staff)
        for name in ("application-screen", "application-accept"):
            _ok(client.post(reverse(f"certification:{name}", args=[app.pk])), name)
        app.refresh_from_db()
        assert app.status == S.IN_REVIEW
        window = ReviewWindow.objects.get(application=app)
        assert window.closes_at - window.opened_at == timedelta(days=window_days)

        # Staff send the offers from the assignment page.
        assert client.get(reverse("auditors:staff-application", args=[app.pk])).status_code == 200
        _ok(client.post(reverse("auditors:staff-send-offers", args=[app.pk]),
                        {"accreditation": [str(acc.pk) for acc in auditors]}), "offers")
        assert Offer.objects.open().filter(application=app).count() == len(auditors)

        # Each auditor accepts and files a signed report.
        for acc in auditors:
            offer = Offer.objects.get(application=app, accreditation=acc)
            _as(client, acc.user)
            assert client.get(reverse("auditors:offer-detail", args=[offer.pk])).status_code == 200
            _ok(client.post(reverse("auditors:offer-accept", args=[offer.pk]), {"confidentiality": "on"}), "accept")
            engagement = Engagement.objects.get(application=app, accreditation=acc)
            assert client.get(reverse("auditors:engagement-submission", args=[engagement.pk])).status_code == 200
            report_url = reverse("auditors:engagement-report", args=[engagement.pk])
            _ok(_file_report(client, report_url, {
                "scope": "Documentation, benchmarks and red-teaming.", "methods": "Reproduced three benchmarks.",
                "issues": "low | Inconsistent refusals across languages", "recommendation": "pass",
                "conditions": ""}), "file report")
            assert AuditReport.objects.get(engagement=engagement).is_filed
        assert not any("Audit" in reason for reason in applications.open_gates(app))

        # The evaluator enrols and files a finding.
        _as(client, evaluator)
        _ok(client.post(reverse("certification:review-enrol", args=[window.pk]), {"confidentiality": "on"}), "enrol")
        _ok(client.post(reverse("certification:finding-create", args=[window.pk]), {
            **{k: v for k, v in FINDING.items() if k not in ("infohazard", "atlas_techniques")},
            "atlas_techniques": "AML.T0054"}), "finding")
        finding = Finding.objects.get(window=window)
        _ok(client.post(reverse("certification:finding-submit", args=[finding.pk])), "submit finding")
        app.refresh_from_db()
        assert "1 community finding awaits triage by staff." in applications.open_gates(app)

        # Staff triage it; the organization responds.
        _as(client, staff)
        _ok(client.post(reverse("certification:finding-triage", args=[finding.pk]), {
            "outcome": "accepted", "note": "Reproduced.", "severity": "high"}), "triage")
        _as(client, org_admin)
        _ok(client.post(reverse("certification:finding-respond", args=[finding.pk]), {
            "kind": "mitigated", "details": "Refusal training on role-play framings.", "fixed_in": "1.0.1"}),
            "respond")
        app.refresh_from_db()
        # Only the open window holds the application back; the decision cannot come early.
        assert app.status == S.IN_REVIEW
        (reason,) = applications.open_gates(app)
        assert "window is open" in reason
        _as(client, staff)
        f.mark_reauthenticated(client, staff)
        client.post(reverse("certification:application-approve", args=[app.pk]), {"confirmed": "1"})
        assert not Decision.objects.filter(application=app).exists()

    # The window's deadline passes: the periodic sweep (the task beat runs) closes it and the
    # application moves to decision pending by itself.
    window.refresh_from_db()
    with time_machine.travel(window.closes_at + timedelta(minutes=1), tick=False):
        assert tasks.sweep_deadlines() >= 1
    window.refresh_from_db()
    app.refresh_from_db()
    assert window.closed_at is not None and app.status == S.DECISION_PENDING

    # Four eyes: staff approves, the same staff cannot approve twice, a second staff member certifies.
    _ok(_approve(client, staff, app), "first approval")
    app.refresh_from_db()
    assert app.status == S.DECISION_PENDING and Decision.objects.filter(application=app).count() == 1
    _approve(client, staff, app)
    app.refresh_from_db()
    assert app.status == S.DECISION_PENDING and Decision.objects.filter(application=app).count() == 1
    _ok(_approve(client, staff2, app), "second approval")
    app.refresh_from_db()
    assert app.status == S.CERTIFIED
    cert = Certificate.objects.get(application=app)
    assert cert.tier == tier

    # Anyone verifies it: the public API, and offline with the published keys and revocation list.
    client.logout()
    answer = client.get("/api/v1/verify/", {"certificate": cert.number}).json()
    assert answer["verified"] is True and answer["status"] == "valid"
    by_file = client.get("/api/v1/verify/", {"sha256": release.artifacts.first().sha256}).json()
    assert by_file["verified"] is True
    envelope = client.get(reverse("certification:certificate-attestation", args=[cert.number])).content
    keys = offline.parse_keys(client.get("/api/v1/keys/").content)
    report = offline.verify_offline(envelope, keys, revocations=client.get("/api/v1/revocations/").content,
                                    model_dir=tmp_path / "model")
    assert report.ok, report.problems
    assert report.number == cert.number

    # The signed statement carries the audit and the community review summaries.
    predicate = json.loads(base64.b64decode(json.loads(envelope)["payload"]))["predicate"]
    assert predicate["tier"] == tier
    audits = predicate["audit_summary"]
    assert len(audits) == len(auditors)
    assert {a["recommendation"] for a in audits} == {"pass"}
    assert {a["report_sha256"] for a in audits} == set(
        AuditReport.objects.filter(engagement__application=app).values_list("sha256", flat=True))
    (review,) = predicate["review_summary"]
    assert review["findings"] == {"accepted": 1} and review["responses"] == {"mitigated": 1}
    assert review["window_closes_at"] == window.closes_at.isoformat()
    page = client.get(reverse("certification:certificate-detail", args=[cert.number]))
    assert page.status_code == 200 and b"No audit report is on record" not in page.content
