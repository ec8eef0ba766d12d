"""The demo story tells no contradiction (issue 12 §6): a Tier 3/4 certificate has its filed
audit reports and a closed window, every model has its own card, the Tier 3 application waits for
its two staff approvals with every gate met (the real gate check, no gate switched off), and the
Tier 4 one is in review with two auditors and its 90-day window open."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from auditors.assignment import facts as assignment_facts
from auditors.models import AuditReport, Engagement
from certification.certificates import attestations, lineage
from certification.certificates import keys as certificate_keys
from certification.certificates import signing as certificate_signing
from certification.certificates.models import Certificate, Decision
from certification.framework import rules
from certification.releases import applications, sample
from certification.releases.models import AIModel, Application, Documentation
from certification.review.models import Finding, ReviewWindow
from portal import demo
from portal.models import Deadline, User

S = Application.Status


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"


def _app(slug: str, version: str) -> Application:
    return Application.objects.select_related("release__ai_model__organization", "framework_version").get(
        release__ai_model__slug=slug, release__version=version)


def _assert_certificates_consistent() -> None:
    certs = list(Certificate.objects.select_related("application__framework_version", "release"))
    assert {c.effective_status() for c in certs} >= {"valid", "suspended", "revoked", "expired", "superseded"}
    assert {c.tier for c in certs} == {1, 2, 3, 4}
    keys = certificate_keys.verification_keys()
    for cert in certs:
        predicate = attestations.verify_envelope(bytes(cert.attestation), keys).predicate
        assert predicate["issued_at"] == certificate_signing.iso(cert.issued_at)
        if cert.tier < 3:
            continue
        app = cert.application
        filed = AuditReport.objects.filter(engagement__application=app, filed_at__isnull=False)
        assert filed.count() == assignment_facts.seats_required(app) == (1 if cert.tier == 3 else 2), cert
        assert all(r.signed_file_stored and r.filed_at < cert.issued_at for r in filed), cert
        window = ReviewWindow.objects.get(application=app)
        assert window.closed_at is not None and window.closes_at < cert.issued_at, cert
        assert not Deadline.objects.for_object(window).open().exists(), "the deadlines page would show it open"
        # The signed attestation carries what the certificate page shows.
        assert len(predicate["audit_summary"]) == filed.count()
        assert predicate["review_summary"][0]["findings"] == {"accepted": 1}
        assert sum(predicate["review_summary"][0]["responses"].values()) == 1


def _assert_model_cards_differ() -> None:
    cards = {}
    for doc in Documentation.objects.select_related("release__ai_model"):
        cards.setdefault(doc.release.ai_model_id, set()).add(doc.section("model_card").get("intended_uses"))
    assert set(cards) == set(AIModel.objects.values_list("pk", flat=True))
    assert all(len(texts) == 1 for texts in cards.values()), "one card per model, across its releases"
    texts = [next(iter(t)) for t in cards.values()]
    assert len(set(texts)) == len(texts), "two demo models share a model card"
    assert sample.SECTIONS["model_card"]["intended_uses"] not in texts
    # The public certificate page shows the frozen card: the same, per model.
    frozen = {c.release.ai_model_id: c.application.revisions.order_by("-number").first()
              .content["sections"]["model_card"]["intended_uses"]
              for c in Certificate.objects.select_related("release", "application")}
    assert len(set(frozen.values())) == len(frozen)
    descriptions = list(AIModel.objects.values_list("description", flat=True))
    assert len(set(descriptions)) == len(descriptions)


def _assert_tier3_awaits_two_approvals() -> None:
    app = _app("acme-vision", "1.0")
    assert app.tier == 3 and app.status == S.DECISION_PENDING
    assert applications.open_gates(app) == []  # the real providers: audits and community review
    assert len(applications.GATE_PROVIDERS) >= 2
    window = ReviewWindow.objects.get(application=app)
    assert window.closed_at is not None and window.closes_at < timezone.now() - timedelta(hours=12)
    assert window.closes_at - window.first_opened_at == timedelta(days=30)
    report = AuditReport.objects.get(engagement__application=app)
    assert report.filed_at < window.closes_at and report.recommendation == AuditReport.Recommendation.PASS
    finding = Finding.objects.get(window=window)
    assert finding.status == Finding.Status.ACCEPTED and finding.response.responded_at < window.closes_at
    assert finding.submitted_at > window.opened_at
    assert not Decision.objects.filter(application=app).exists()
    assert Deadline.objects.for_object(app).open().filter(kind="staff_decision").exists()
    second = User.objects.get(email="staff2@demo.example")
    assert second.is_alliance_staff and User.objects.get(email="staff@demo.example").is_alliance_staff


def _assert_tier4_in_review() -> None:
    app = _app("acme-cyber", "2.0")
    assert app.tier == 4 and app.status == S.IN_REVIEW
    engagements = Engagement.objects.current().filter(application=app)
    assert engagements.count() == 2
    covered = set().union(*(set(e.accreditation.domains) for e in engagements))
    assert set(app.release.sensitive_domains) <= covered
    window = ReviewWindow.objects.get(application=app)
    assert window.is_open() and window.closed_at is None
    assert window.closes_at - window.opened_at == timedelta(days=90)
    assert rules.deadline_days(app.framework_version.rules, "review_window", 4) == 90
    assert any("window is open" in reason for reason in applications.open_gates(app))


def _assert_lineage_chain() -> None:
    """Acme Coder Lite Q4 → Acme Coder Lite → Acme Coder 2.0, all valid; the adapter's base is suspended."""
    quantized = Certificate.objects.get(release__ai_model__slug="acme-coder-lite-q4")
    links = lineage.chain([quantized])
    assert [(link.depth, link.upstream.relation, link.status, link.certificate.release.ai_model.slug)
            for link in links] == [(1, "quantization", "valid", "acme-coder-lite"),
                                   (2, "distilled", "valid", "acme-coder")]
    predicate = attestations.verify_envelope(bytes(quantized.attestation),
                                             certificate_keys.verification_keys()).predicate
    assert [d["name"] for d in predicate["upstreams"]] == [links[0].certificate.number]
    adapter = Certificate.objects.get(release__ai_model__slug="acme-mid-support")
    assert [link.flags for link in lineage.links_of_certificate(adapter)] == [["suspended"]]


def _assert_incidents() -> None:
    """A resolved incident in Acme Chat's public history, an acknowledged one on Acme Coder, both on
    valid certificates, with their acknowledgement deadlines closed."""
    from certification.certificates import incidents
    from certification.certificates.models import ConcernReport

    resolved = ConcernReport.objects.get(status=ConcernReport.Status.RESOLVED)
    acknowledged = ConcernReport.objects.get(status=ConcernReport.Status.ACKNOWLEDGED)
    assert resolved.certificate.effective_status() == acknowledged.certificate.effective_status() == "valid"
    assert (resolved.certificate.release.ai_model.slug, acknowledged.certificate.release.ai_model.slug) == (
        "acme-chat", "acme-coder")
    assert [i.title for i in incidents.public_history(resolved.certificate)] == [resolved.summary]
    assert incidents.public_history(acknowledged.certificate) == []  # public 90 days after its acknowledgement
    for incident in (resolved, acknowledged):
        assert incident.acknowledged_at >= incident.created_at and incident.severity
        assert not Deadline.objects.for_object(incident).open().exists()


@pytest.mark.slow
def test_demo_story_is_consistent(framework):
    demo.load()
    _assert_certificates_consistent()
    _assert_lineage_chain()
    _assert_incidents()
    _assert_model_cards_differ()
    _assert_tier3_awaits_two_approvals()
    _assert_tier4_in_review()
    counts = (Certificate.objects.count(), Application.objects.count(), AuditReport.objects.count())
    demo.load()  # idempotent: nothing new, the Tier 3 application still waits
    assert (Certificate.objects.count(), Application.objects.count(), AuditReport.objects.count()) == counts
    _assert_incidents()  # idempotent too: still one of each
    _assert_tier3_awaits_two_approvals()
    _assert_tier4_in_review()
