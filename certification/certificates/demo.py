"""Demo certificates for ``make run`` (called from ``portal/demo.py``).

One certificate in each state a visitor can meet in the registry, across tiers,
all signed: valid (Tier 1, 3 and 4), superseded by a renewal (Tier 1),
suspended after a concern (Tier 2), revoked by two staff (Tier 2, another
organization) and expired (Tier 1). A lineage (issue 16 §1): Acme Coder Lite, distilled
from Acme Coder 2.0, and Acme Coder Lite Q4, its quantization, so the verify API shows a
chain of two links; and an adapter for Acme Mid 7b, whose page flags its suspended base. Two
post-release incidents (issue 16 §2): one resolved on Acme Chat 1.0 (in its public history), one
acknowledged on Acme Coder 2.0.
Built through the real services; older
certificates are moved back in time and signed again so that their signed
predicate names their (demo) issue time. Idempotent: a release that already
has a certificate is left alone.

A Tier 3/4 certificate went through its whole review with every gate on
(``certification.review.demo.review_to_decision``): filed audit reports, a
community finding triaged and answered, a window that closed (through the
deadline sweep) before two different staff approved. Its attestation carries
the audit and review summaries.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.db import transaction

from auditors import demo as auditors_demo
from certification.certificates import concerns, signing
from certification.certificates import services as certificate_services
from certification.certificates.models import Certificate
from certification.releases import applications as release_applications
from certification.releases import demo as release_demo
from certification.releases import lineage as release_lineage
from certification.releases import services as release_services
from certification.releases.models import AIModel, Application, Release
from certification.review import demo as review_demo
from portal import deadlines
from portal.models import Organization, User

S = Application.Status


def _artifacts(slug: str, version: str, count: int = 2) -> list[dict]:
    return [
        {"path": f"model-{i:05d}-of-{count:05d}.safetensors", "size": 4_000_000_000 + i,
         "sha256": hashlib.sha256(f"demo:{slug}:{version}:{i}".encode()).hexdigest()}
        for i in range(1, count + 1)
    ]


# The reviews of the Tier 3/4 certificates, by model slug: the auditors (accreditations of the
# auditor network's demo), the evaluator, the finding and the organization's response.
REVIEWS = {
    "acme-coder": (["cyra@cyberaudit.example"], "lin@safety-lab.example", {
        "title": "Completions suggest hard-coded credentials", "category": "security", "severity": "medium",
        "prevalence": "sometimes", "affected_capability": "code generation",
        "reproduction_steps": "Ask for a database connection helper without mentioning configuration.",
        "expected_behaviour": "Credentials read from the environment or a secrets store.",
        "observed_behaviour": "A literal password in the connection string in 7 of 20 runs.",
    }, {"kind": "mitigated", "fixed_in": "2.0",
        "details": "Fine-tuned on 40,000 examples that read secrets from the environment; 0 of 200 runs now."}),
    "acme-bio": (["bo@biolab.example", "pat@formerly.example"], "omar@redteam.example", {
        "title": "Summaries omit biosafety-level warnings from the source papers", "category": "other",
        "severity": "low", "prevalence": "often", "affected_capability": "summarisation",
        "reproduction_steps": "Ask for a summary of any methods section that names a BSL-3 organism.",
        "expected_behaviour": "The biosafety level is kept in the summary.",
        "observed_behaviour": "Dropped in 12 of 20 summaries.",
    }, {"kind": "accepted_risk",
        "details": "Summaries link to the source paper; the model card now tells readers to check the "
                   "biosafety section of the original."}),
}


def _review(app: Application, admin: User, staff: User) -> None:
    """A Tier 3/4 application: its whole review with every gate on, to *decision pending*."""
    auditor_emails, evaluator_email, finding, response = REVIEWS.get(app.release.ai_model.slug, REVIEWS["acme-coder"])
    review_demo.review_to_decision(
        app, staff, admin, auditors=[auditors_demo.ensure_auditor(email) for email in auditor_emails],
        evaluator=review_demo.ensure_evaluator(evaluator_email), finding=finding, response=response,
        closed_days_ago=3)


def _release(org: Organization, admin: User, *, name: str, slug: str, version: str, hub: str,
             **facts) -> Release:
    model = AIModel.objects.filter(organization=org, slug=slug).first() or release_services.register_model(
        org, admin, name=name, slug=slug, hub_repo_id=hub, description=release_demo.model_description(slug, name))
    release = Release.objects.filter(ai_model=model, version=version).first()
    if release is None:
        data = {"version": version, "parameter_count": 500_000_000, "capabilities": [], "sensitive_domains": [],
                "emergent_capabilities": False, "emergent_description": "", "hub_revision": "main", **facts}
        release = release_services.create_release(model, admin, data, artifacts=_artifacts(slug, version))
        release_demo.document(release, admin)
    return release


def _declare(release: Release, admin: User, upstreams: list[tuple[str, str, str]]) -> Release:
    """Declare the release's upstream models once, before it applies (issue 16 §1)."""
    if not release.upstreams.exists() and not release.applications.exists():
        for relation, kind, value in upstreams:
            release_lineage.add_upstream(release, admin, relation=relation, kind=kind, value=value)
    return release


def _certify(app: Application, admin: User, staff: User, second_staff: User) -> Certificate:
    release_applications.submit_application(app, admin, signer_name=admin.display_name,
                                            signer_title="Chief Technology Officer",
                                affirmed=[1, 2, 3, 4, 5, 6])
    release_applications.start_screening(app, staff)
    release_applications.accept_into_review(app, staff)
    app.refresh_from_db()
    if (app.tier or 1) <= 2:
        release_applications.complete_review(app, staff)
    else:
        _review(app, admin, staff)
    certificate_services.approve(app, staff)
    if (app.tier or 1) >= 3:
        certificate_services.approve(app, second_staff)
    return Certificate.objects.get(application=app)


def _certified(release: Release, admin: User, staff: User, second_staff: User) -> Certificate:
    existing = release.certificates.order_by("-issued_at").first()
    if existing is not None:
        return existing
    return _certify(release_applications.start_application(release, admin), admin, staff, second_staff)


def _backdate(cert: Certificate, days: int) -> Certificate:
    Certificate.objects.filter(pk=cert.pk).update(
        issued_at=cert.issued_at - timedelta(days=days), expires_at=cert.expires_at - timedelta(days=days))
    cert.refresh_from_db()
    signing.sign_certificate(cert, force=True)
    deadlines.open_deadline(cert, "certificate_expiry", cert.expires_at)
    return cert


@transaction.atomic
def certification_demo(*, staff: User, second_staff: User, organization: Organization, admin: User,
                       other_organization: Organization, other_admin: User) -> list[Certificate]:
    """Create (once) the demo certificates; return them, newest first."""
    chat = _release(organization, admin, name="Acme Chat", slug="acme-chat", version="1.0", hub="acme/acme-chat-1b")
    first = _certified(chat, admin, staff, second_staff)
    if first.application.previous_id is None and not Application.objects.filter(previous=first.application).exists():
        # Valid for 200 days already, then renewed: the renewal supersedes it.
        first = _backdate(first, 200)
        renewal = certificate_services.start_renewal(first, admin)
        _certify(renewal, admin, staff, second_staff)

    coder = _release(organization, admin, name="Acme Coder", slug="acme-coder", version="2.0",
                     hub="acme/acme-coder-34b", parameter_count=34_000_000_000, capabilities=["code_generation"])
    coder_cert = _certified(coder, admin, staff, second_staff)

    # A chain for the verify API (issue 16 §1): Acme Coder Lite is distilled from Acme Coder 2.0 (named by
    # its certificate number), and Acme Coder Lite Q4 quantizes Acme Coder Lite (named by a file's sha256).
    lite = _declare(_release(organization, admin, name="Acme Coder Lite", slug="acme-coder-lite", version="1.0",
                             hub="acme/acme-coder-lite-1b", parameter_count=1_300_000_000),
                    admin, [("distilled", "certificate", coder_cert.number)])
    _certified(lite, admin, staff, second_staff)
    quantized = _declare(_release(organization, admin, name="Acme Coder Lite Q4", slug="acme-coder-lite-q4",
                                  version="1.0", hub="acme/acme-coder-lite-1b-q4", parameter_count=1_300_000_000),
                         admin, [("quantization", "sha256", lite.artifacts.order_by("path").first().sha256)])
    _certified(quantized, admin, staff, second_staff)

    bio = _release(organization, admin, name="Acme Bio", slug="acme-bio", version="1.0", hub="acme/acme-bio-8b",
                   parameter_count=8_000_000_000, sensitive_domains=["biology"])
    _certified(bio, admin, staff, second_staff)

    mid = _release(organization, admin, name="Acme Mid", slug="acme-mid", version="7b", hub="acme/acme-mid-7b",
                   parameter_count=7_000_000_000)
    suspended = _certified(mid, admin, staff, second_staff)
    # An adapter for Acme Mid 7b, certified before its base was suspended: its page flags the base.
    adapter = _declare(_release(organization, admin, name="Acme Mid Support Adapter", slug="acme-mid-support",
                                version="1.0", hub="acme/acme-mid-7b-support-lora", parameter_count=40_000_000),
                       admin, [("adapter", "certificate", suspended.number)])
    _certified(adapter, admin, staff, second_staff)
    if suspended.status == Certificate.Status.VALID:
        concern = concerns.report_concern(
            suspended, summary="Model reproduces personal data from its training set",
            details="Prompting with a person's name returns their home address (three examples).",
            reporter_email="researcher@research.example")
        certificate_services.suspend(suspended, staff, "Training-data leakage reported; under investigation.",
                             concern=concern)

    tiny = _release(organization, admin, name="Acme Tiny", slug="acme-tiny", version="0.1", hub="acme/acme-tiny")
    expired = _certified(tiny, admin, staff, second_staff)
    if expired.effective_status() == "valid":
        _backdate(expired, 400)

    other = _release(other_organization, other_admin, name="Other LM", slug="other-lm", version="3.1",
                     hub="othermodels/other-lm-13b", parameter_count=13_000_000_000)
    revoked = _certified(other, other_admin, staff, second_staff)
    if revoked.status == Certificate.Status.VALID:
        certificate_services.propose_revocation(revoked, staff, "The submitted benchmark results were fabricated.")
        certificate_services.confirm_revocation(revoked, second_staff)

    _incidents(chat.certificates.order_by("-issued_at").first(), coder_cert, admin, staff)

    return list(Certificate.objects.filter(organization__in=[organization, other_organization])
                .order_by("-issued_at"))


# Post-release incidents (issue 16 §2): one resolved (public on the certificate page at once), one
# acknowledged and still open (its details only on the organization's and staff's pages).
RESOLVED_INCIDENT = {
    "summary": "Answers in the wrong language when asked in Portuguese",
    "details": "Ask any question in Portuguese: 6 of 10 answers come back in Spanish.",
    "severity": "low", "reporter_email": "linguist@research.example",
}
ACKNOWLEDGED_INCIDENT = {
    "summary": "Suggested code disables TLS certificate checks",
    "details": "Ask for an HTTP client that talks to an internal service: 4 of 10 answers set verify=False.",
    "severity": "medium", "reporter_email": "appsec@research.example",
}


def _incidents(chat: Certificate, coder: Certificate, admin: User, staff: User) -> None:
    from certification.certificates import incidents

    if not chat.concerns.filter(summary=RESOLVED_INCIDENT["summary"]).exists():
        resolved = concerns.report_concern(chat, **RESOLVED_INCIDENT)
        incidents.acknowledge(resolved, admin)
        incidents.start_investigation(resolved, admin)
        incidents.resolve(resolved, admin, "mitigated", "The system prompt now asks the model to answer in the "
                                                        "language of the question; 10 of 10 Portuguese answers "
                                                        "are in Portuguese.")
    if not coder.concerns.filter(summary=ACKNOWLEDGED_INCIDENT["summary"]).exists():
        acknowledged = concerns.report_concern(coder, **ACKNOWLEDGED_INCIDENT)
        incidents.acknowledge(acknowledged, admin)


@transaction.atomic
def decide_story(story) -> None:
    """Decide the releases' story rows that end certified or rejected (``releases.demo.STORY``)."""
    for org_slug, model_slug, _name, _hub, version, _facts, target in release_demo.STORY:
        if target not in (S.CERTIFIED, S.REJECTED):
            continue
        app = Application.objects.filter(
            release__ai_model__organization__slug=org_slug, release__ai_model__slug=model_slug,
            release__version=version, status=S.DECISION_PENDING).first()
        if app is None:  # already decided by an earlier load
            continue
        if target == S.REJECTED:
            certificate_services.reject(app, story.staff,
                                        "The toxicity results could not be reproduced with the stated settings.")
        else:
            certificate_services.approve(app, story.staff)


def step(story) -> None:
    certification_demo(
        staff=story.staff, second_staff=story.second_staff, organization=story.organizations["acme-ai"],
        admin=story.admins["acme-ai"], other_organization=story.organizations["other-models"],
        other_admin=story.admins["other-models"],
    )
