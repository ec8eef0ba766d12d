"""The auditor network's part of the demo story (idempotent). Call
``step`` and ``accredit_demo_logins`` are registered with ``portal.demo`` by ``AuditorsConfig.ready``.

- Accredited auditors: the demo auditor (auditor@audits.example, biology),
  a cybersecurity specialist, a biology lab, one with a current consulting
  contract with Acme AI (a hard conflict) and one who left Other Models Lab a
  year ago (a potential conflict staff may override); a pending application;
  two vetted evaluators.
- Other Models Lab's Tier 4 "Other Frontier 1.0" (biology, cybersecurity) in
  review with two open offers, one to the demo auditor.
- The demo auditor's active engagement on Acme Large 1.0 (the Tier 3
  application in review, when the certification demo made it) with a draft,
  and a filed report with an open condition on Other Models Lab's
  "Other Reasoner 2.0".

Later steps engage these people through the same services (``ensure_auditor``): the community
review's demo (Acme Cyber 2.0, Tier 4, two auditors; Acme Vision 1.0, Tier 3, the demo auditor's
filed report) and the certificates' (a filed report for every Tier 3/4 certificate).
"""

from __future__ import annotations

import datetime as dt

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from auditors import reports
from auditors.assignment import offers as assignment_offers
from auditors.models import Accreditation, Affiliation, AuditReport, Engagement, Offer
from certification.releases import applications, services
from certification.releases import demo as release_demo
from certification.releases.models import AIModel, Application, Release
from portal.models import Membership, Organization, User

DEMO_AUDITOR = "auditor@audits.example"
PEOPLE = [
    # email, name, firm, kind, domains, capacity
    ("cyra@cyberaudit.example", "Cyra Cyber", "CyberAudit GmbH", "audit_firm", ["cybersecurity"], 3),
    ("bo@biolab.example", "Bo Biolab", "BioSafety Lab", "independent_lab", ["biology"], 2),
    ("connie@consult.example", "Connie Consult", "Connie Consulting", "independent_lab", ["biology"], 2),
    ("pat@formerly.example", "Pat Former", "University of Audits", "academia", ["cybersecurity"], 2),
]


def _user(email: str, name: str) -> User:
    user = User.objects.filter(email=email).first()
    return user or User.objects.create_user(email, None, name=name)


def _accredit(user: User, *, firm: str, kind: str, domains: list[str], capacity: int, tiers=(3, 4),
              role: str = Accreditation.Role.AUDITOR, email_domains=()) -> Accreditation:
    now = timezone.now()
    acc, _created = Accreditation.objects.get_or_create(user=user, role=role, defaults={
        "firm": firm, "kind": kind, "status": Accreditation.Status.APPROVED, "approved_at": now,
        "valid_until": now + dt.timedelta(days=730)})
    # The portal demo creates the demo auditor's row with no tiers: complete it.
    Accreditation.objects.filter(pk=acc.pk).update(
        firm=firm, kind=kind, tiers=list(tiers) if role == Accreditation.Role.AUDITOR else [], domains=domains,
        requested_tiers=list(tiers) if role == Accreditation.Role.AUDITOR else [], requested_domains=domains,
        capacity=capacity, email_domains=list(email_domains))
    acc.refresh_from_db()
    return acc


def ensure_auditor(email: str) -> Accreditation:
    """The accredited demo auditor with this email (``PEOPLE`` or the demo login), created if missing."""
    for person, name, firm, kind, domains, capacity in PEOPLE:
        if person == email:
            return _accredit(_user(email, name), firm=firm, kind=kind, domains=domains, capacity=capacity)
    if email == DEMO_AUDITOR and not Accreditation.objects.filter(user__email=email, role="auditor").exists():
        return _accredit(_user(email, "Aud Itor"), firm="Sound Audits LLP", kind="audit_firm", domains=["biology"],
                         capacity=3, email_domains=["audits.example"])
    return Accreditation.objects.select_related("user").get(user__email=email, role=Accreditation.Role.AUDITOR)


def _in_review(org: Organization, model_slug: str, model_name: str, version: str, facts: dict,
               staff: User) -> Application | None:
    admin = User.objects.filter(memberships__organization=org, memberships__role=Membership.Role.ADMIN).first()
    if admin is None:
        return None
    model = AIModel.objects.filter(organization=org, slug=model_slug).first() or services.register_model(
        org, admin, name=model_name, slug=model_slug, modalities=["text"],
        description=release_demo.model_description(model_slug, model_name))
    release = Release.objects.filter(ai_model=model, version=version).first()
    if release is None:
        release = services.create_release(model, admin, {
            "version": version, "capabilities": [], "sensitive_domains": [], "emergent_capabilities": False,
            "emergent_description": "", **facts})
        release_demo.document(release, admin)
    app = applications.start_application(release, admin)
    if app.status == Application.Status.DRAFT:
        applications.submit_application(app, admin, signer_name=admin.display_name, signer_title="CTO",
                                affirmed=[1, 2, 3, 4, 5, 6])
    if app.status == Application.Status.SUBMITTED:
        applications.start_screening(app, staff)
    if app.status == Application.Status.SCREENING:
        applications.accept_into_review(app, staff)
    app.refresh_from_db()
    return app if app.status == Application.Status.IN_REVIEW else None


def _engage(app: Application, acc: Accreditation, staff: User) -> Engagement:
    existing = Engagement.objects.current().filter(application=app, accreditation=acc).first()
    if existing:
        return existing
    offer = Offer.objects.open().filter(application=app, accreditation=acc).first() or assignment_offers.send_offer(
        app, acc, staff)
    return assignment_offers.accept_offer(offer, acc.user, confidentiality=True)


PDF = b"%PDF-1.4\n% demo signed audit report\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@transaction.atomic
def load(staff: User) -> None:
    acme = Organization.objects.filter(slug="acme-ai").first()
    other = Organization.objects.filter(slug="other-models").first()
    demo_user = User.objects.filter(email=DEMO_AUDITOR).first()
    if demo_user is None or other is None:
        return
    demo = _accredit(demo_user, firm="Sound Audits LLP", kind="audit_firm", domains=["biology"], capacity=3,
                     email_domains=["audits.example"])
    people = {}
    for email, name, firm, kind, domains, capacity in PEOPLE:
        people[email] = _accredit(_user(email, name), firm=firm, kind=kind, domains=domains, capacity=capacity)
    if acme and not Affiliation.objects.filter(accreditation=people["connie@consult.example"]).exists():
        Affiliation.objects.create(accreditation=people["connie@consult.example"], organization=acme,
                                   organization_name=acme.name, relation=Affiliation.Relation.CONSULTING,
                                   started_on=dt.date(2024, 3, 1))
    if not Affiliation.objects.filter(accreditation=people["pat@formerly.example"]).exists():
        today = timezone.localdate()
        Affiliation.objects.create(accreditation=people["pat@formerly.example"], organization=other,
                                   organization_name=other.name, relation=Affiliation.Relation.EMPLOYMENT,
                                   started_on=dt.date(2019, 9, 1), ended_on=today - dt.timedelta(days=365))
    # A pending application to join, and a second vetted evaluator.
    _accredit_pending = _user("nina@newaudit.example", "Nina Newcomer")
    Accreditation.objects.get_or_create(user=_accredit_pending, role=Accreditation.Role.AUDITOR, defaults={
        "firm": "New Audit Co", "kind": "audit_firm", "requested_tiers": [3], "requested_domains": [],
        "capacity": 2, "statement": "Five years of model evaluations at a consultancy."})
    _accredit(_user("vera@evals.example", "Vera Vetted"), firm="Open Evals", kind="civil_society",
              domains=["cybersecurity"], capacity=1, role=Accreditation.Role.EVALUATOR)

    # Tier 4 in review, two open offers (one to the demo auditor).
    frontier = _in_review(other, "other-frontier", "Other Frontier", "1.0",
                          {"parameter_count": 200_000_000_000, "sensitive_domains": ["biology", "cybersecurity"]},
                          staff)
    if frontier and not frontier.offers.exists():
        for acc in (demo, people["cyra@cyberaudit.example"]):
            assignment_offers.send_offer(frontier, acc, staff)

    # A filed report with a condition the organization still has to resolve.
    reasoner = _in_review(other, "other-reasoner", "Other Reasoner", "2.0",
                          {"parameter_count": 90_000_000_000}, staff)
    if reasoner:
        engagement = _engage(reasoner, demo, staff)
        report = AuditReport.objects.get(engagement=engagement)
        if not report.is_filed:
            reports.file_report(engagement, demo_user, {
                "scope": "Documentation, the three safety benchmarks and the staged rollout plan.",
                "methods": "Reproduced TruthfulQA and BBQ with the stated harness; 3 days of red-teaming.",
                "reproduced_results": [{"benchmark": "truthfulqa", "metric": "MC2 accuracy", "reported": "0.52",
                                        "reproduced": "0.51"}],
                "issues": [{"title": "System prompt leaks through a translation request", "severity": "medium",
                            "description": "Reproducible in 3 of 10 attempts."}],
                "recommendation": AuditReport.Recommendation.PASS_WITH_CONDITIONS,
            }, ["Mitigate the system-prompt leak before the general-availability stage."],
                signed_file=SimpleUploadedFile("signed-audit-report.pdf", PDF))

    # The demo auditor's active engagement on Acme Large (Tier 3, from the certification demo).
    large = Application.objects.filter(release__ai_model__slug="acme-large",
                                       status=Application.Status.IN_REVIEW).first()
    if large:
        engagement = _engage(large, demo, staff)
        report = AuditReport.objects.get(engagement=engagement)
        if not report.scope:
            reports.save_report_draft(engagement, demo_user, {
                "scope": "Documentation and the code-generation capability.",
                "methods": "In progress: reproducing HumanEval-style safety probes."})


def accredit_demo_logins(story) -> None:
    """The demo auditor and evaluator logins hold an approved accreditation (completed by ``load``)."""
    now = timezone.now()
    for email, role, firm in [
        ("auditor@audits.example", Accreditation.Role.AUDITOR, "Sound Audits LLP"),
        ("evaluator@research.example", Accreditation.Role.EVALUATOR, "Open Research Collective"),
    ]:
        Accreditation.objects.get_or_create(
            user=story.users[email],
            role=role,
            defaults={
                "firm": firm,
                "status": Accreditation.Status.APPROVED,
                "approved_at": now,
                "valid_until": now + dt.timedelta(days=730),
            },
        )


def step(story) -> None:
    load(story.staff)
