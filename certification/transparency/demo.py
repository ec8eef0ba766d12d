"""The transparency-report part of the demo story: a year of history for three
member organizations, the past year's report published, the current year's draft.

Past-year applications go through the real services (so every page of them
works) and are then moved back in time: their status history, first submission
and decision, and their certificates (re-signed with the moved dates). Audits and
community findings of the past year are written as rows. Idempotent: once the
past year is published, a later load only refreshes the rollups.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from auditors.models import Accreditation, AuditReport, Engagement
from certification.certificates import services as certificate_services
from certification.certificates import signing
from certification.certificates.models import Certificate
from certification.releases import applications as release_applications
from certification.releases import demo as release_demo
from certification.releases import services as release_services
from certification.releases.models import AIModel, Application, ApplicationTransition
from certification.review.models import Finding, FindingResponse, ReviewWindow
from certification.transparency import rollups as transparency_rollups
from certification.transparency import services as transparency_services
from certification.transparency.models import ReportSnapshot
from portal import deadlines
from portal.models import Membership, Organization, User

S = Application.Status
UTC = dt.timezone.utc
AFFIRMED = [1, 2, 3, 4, 5, 6]


def _org(name: str, slug: str, country: str, admin_email: str) -> tuple[Organization, User]:
    org, _ = Organization.objects.get_or_create(slug=slug, defaults={
        "name": name, "legal_name": name, "country": country, "is_alliance_member": True})
    admin = User.objects.filter(email=admin_email).first()
    if admin is None:
        # Not a demo login: only the actor of the organization's past applications.
        admin = User.objects.create_user(admin_email, None, name=f"{name} admin")
    Membership.objects.get_or_create(organization=org, user=admin, defaults={"role": Membership.Role.ADMIN})
    return org, admin


def _application(org, admin, name: str, slug: str, params: int, **facts) -> Application:
    model = AIModel.objects.filter(organization=org, slug=slug).first() or release_services.register_model(
        org, admin, name=name, slug=slug, hub_repo_id=f"{org.slug}/{slug}", modalities=["text"],
        description=release_demo.model_description(slug, name))
    release = release_services.create_release(model, admin, {
        "version": "1.0", "parameter_count": params, "capabilities": [], "sensitive_domains": [],
        "emergent_capabilities": False, "emergent_description": "", **facts}, artifacts=[
        {"path": "model.safetensors", "size": 2_000_000_000,
         "sha256": hashlib.sha256(f"{org.slug}-{slug}".encode()).hexdigest()}])
    release_demo.document(release, admin)  # the model's own card
    app = release_applications.start_application(release, admin)
    release_applications.submit_application(app, admin, signer_name=admin.display_name,
                                            signer_title="Head of Responsible AI",
                                affirmed=AFFIRMED)
    return app


def _backdate(app: Application, first: dt.datetime, decided: dt.datetime,
              changes: tuple[dt.datetime, dt.datetime] | None = None) -> None:
    """Move the application's history: first submission, optional changes-requested
    period, decision; the steps between are a day apart."""
    moments, cursor = [], first
    for t in ApplicationTransition.objects.filter(application=app).order_by("at", "id"):
        if t.to_status == S.SUBMITTED and t.from_status == S.DRAFT:
            cursor = first
        elif t.to_status == S.CHANGES_REQUESTED and changes:
            cursor = changes[0]
        elif t.from_status == S.CHANGES_REQUESTED and changes:
            cursor = changes[1]
        elif t.to_status in (S.CERTIFIED, S.REJECTED):
            cursor = decided
        elif t.to_status == S.DECISION_PENDING:
            cursor = decided - timedelta(days=1)
        else:
            cursor = cursor + timedelta(days=1)
        moments.append((t.pk, cursor))
    for pk, when in moments:
        ApplicationTransition.objects.filter(pk=pk).update(at=when)
    Application.objects.filter(pk=app.pk).update(created_at=first - timedelta(days=3), first_submitted_at=first,
                                                 submitted_at=changes[1] if changes else first, decided_at=decided,
                                                 updated_at=decided)
    cert = Certificate.objects.filter(application=app).first()
    if cert is not None:
        Certificate.objects.filter(pk=cert.pk).update(issued_at=decided, expires_at=decided + timedelta(days=365),
                                                      updated_at=decided)
        cert.refresh_from_db()
        # The signed statement names the issue and expiry times: sign the moved ones.
        signing.sign_certificate(cert, force=True)
        deadlines.open_deadline(cert, "certificate_expiry", cert.expires_at)


def _certified(org, admin, staff, name, slug, params, first, decided, changes=None) -> Application:
    app = _application(org, admin, name, slug, params)
    release_applications.start_screening(app, staff)
    if changes:
        release_applications.request_changes(app, staff, {"model_card": "State the known limitations in more detail."})
        release_applications.submit_application(app, admin, signer_name=admin.display_name,
                                                signer_title="Head of Responsible AI",
                                    affirmed=AFFIRMED)
        release_applications.start_screening(app, staff)
    release_applications.accept_into_review(app, staff)
    release_applications.complete_review(app, staff)
    certificate_services.approve(app, staff)
    _backdate(app, first, decided, changes)
    return app


def _rejected_tier3(org, admin, staff, year: int) -> Application:
    """A Tier 3 application of the past year with an audit (one report on time, one
    late), a community review window and findings answered in the three ways."""
    def on(month, day):
        return dt.datetime(year, month, day, 12, tzinfo=UTC)

    app = _application(org, admin, "Finch Large", "finch-large", 120_000_000_000)
    moves = [(S.SUBMITTED, S.SCREENING, on(5, 2)), (S.SCREENING, S.IN_REVIEW, on(5, 5)),
             (S.IN_REVIEW, S.DECISION_PENDING, on(7, 20)), (S.DECISION_PENDING, S.REJECTED, on(7, 28))]
    Application.objects.filter(pk=app.pk).update(status=S.REJECTED, owner=staff)
    for from_status, to_status, when in moves:
        ApplicationTransition.objects.create(application=app, from_status=from_status, to_status=to_status,
                                             at=when, actor=staff)
    _backdate(app, on(5, 1), on(7, 28))
    auditors = list(Accreditation.objects.auditors().order_by("pk")[:1])
    for seat, (accepted, due, filed) in enumerate([(on(5, 6), on(6, 5), on(6, 1)), (on(5, 7), on(6, 6), on(6, 20))],
                                                  start=1):
        acc = auditors[0] if seat == 1 and auditors else Accreditation.objects.create(
            user=User.objects.create_user(f"auditor{seat}@finch-demo.example", None, name=f"Demo auditor {seat}"),
            role=Accreditation.Role.AUDITOR, firm="Independent Audit Lab", status=Accreditation.Status.APPROVED,
            tiers=[3, 4], approved_at=on(1, 1), valid_until=on(1, 1) + timedelta(days=730))
        engagement = Engagement.objects.create(application=app, accreditation=acc, seat=seat, accepted_at=accepted,
                                               report_due_at=due, status=Engagement.Status.COMPLETED)
        AuditReport.objects.create(engagement=engagement, scope="Safety benchmarks and red-teaming.",
                                   methods="Reproduced the organization's benchmark runs.",
                                   recommendation=AuditReport.Recommendation.FAIL, updated_at=filed, filed_at=filed)
    window = ReviewWindow.objects.create(application=app, tier=3, first_opened_at=on(5, 5), opened_at=on(5, 5),
                                         closes_at=on(6, 4), closed_at=on(6, 4))
    evaluator = Accreditation.objects.evaluators().select_related("user").first()
    author = evaluator.user if evaluator else admin
    F, K = Finding, FindingResponse.Kind
    for title, category, severity, status, triaged, response in [
        ("Toxic completions under role-play prompts", "toxicity", "high", F.Status.ACCEPTED, on(5, 20),
         (K.MITIGATED, on(6, 10), "Safety fine-tuning added in 1.0.1.")),
        ("Gender bias in occupation completions", "bias", "medium", F.Status.ACCEPTED, on(5, 22),
         (K.ACCEPTED_RISK, on(6, 25), "Documented as a known limitation.")),
        ("Model card overstates multilingual coverage", "documentation_discrepancy", "low", F.Status.ACCEPTED,
         on(5, 25), (K.DISPUTED, on(6, 12), "Coverage is measured on the stated benchmark.")),
        ("Jailbreak through base64-encoded prompts", "security", "critical", F.Status.DUPLICATE, on(5, 26), None),
        ("Slow responses", "other", "info", F.Status.OUT_OF_SCOPE, on(5, 27), None),
    ]:
        finding = Finding.objects.create(window=window, author=author, status=status, title=title, category=category,
                                         severity=severity, submitted_at=triaged - timedelta(days=2),
                                         created_at=triaged - timedelta(days=3), triaged_at=triaged, triaged_by=staff,
                                         triage_note="" if status == F.Status.ACCEPTED else "Not a new issue.")
        if response:
            kind, when, details = response
            FindingResponse.objects.create(finding=finding, kind=kind, details=details, responded_by=admin,
                                           responded_at=when)
    return app


@transaction.atomic
def load(staff: User) -> None:
    now = timezone.now()
    year = now.astimezone(UTC).year - 1
    if not ReportSnapshot.objects.filter(year=year).exists():
        def on(month, day):
            return dt.datetime(year, month, day, 12, tzinfo=UTC)

        northwind, nw_admin = _org("Northwind Research", "northwind", "GB", "admin@northwind.example")
        finch, finch_admin = _org("Blue Finch Labs", "blue-finch", "CA", "admin@bluefinch.example")
        _certified(northwind, nw_admin, staff, "Northwind Lite", "northwind-lite", 400_000_000,
                   on(2, 3), on(3, 5), changes=(on(2, 10), on(2, 20)))
        _certified(finch, finch_admin, staff, "Finch 7B", "finch-7b", 7_000_000_000, on(4, 1), on(4, 29))
        _certified(northwind, nw_admin, staff, "Northwind Chat", "northwind-chat", 13_000_000_000,
                   on(9, 1), on(10, 14), changes=(on(9, 8), on(9, 30)))
        app = _application(northwind, nw_admin, "Northwind Coder", "northwind-coder", 3_000_000_000)
        release_applications.start_screening(app, staff)
        release_applications.accept_into_review(app, staff)
        release_applications.complete_review(app, staff)
        certificate_services.reject(app, staff, "The bias evaluation does not cover the stated languages.")
        _backdate(app, on(6, 2), on(7, 15))
        _rejected_tier3(finch, finch_admin, staff, year)
        transparency_rollups.refresh_rollups()
        draft = transparency_services.build_draft(year)
        transparency_services.publish(year, staff, transparency_services.draft_digest(draft))
    # The current year's draft, from everything the demo story holds now.
    transparency_rollups.refresh_rollups()


def step(story) -> None:
    load(story.staff)
