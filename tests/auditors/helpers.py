"""Builders for the auditor network tests (and the permission walk's rows)."""

from __future__ import annotations

import itertools

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from auditors import reports
from auditors.assignment import offers
from auditors.models import Accreditation, Affiliation
from certification.releases import applications
from tests import factories as f
from tests.certification.factories import submitted_application

_seq = itertools.count(1)

TIER3 = {"parameter_count": 100_000_000_000}
TIER4_BOTH = {"parameter_count": 100_000_000_000, "sensitive_domains": ["biology", "cybersecurity"]}


def make_accredited_auditor(*, name: str | None = None, email: str | None = None, tiers=(3, 4), domains=(),
                            capacity: int = 2, firm: str = "Independent Audits", mfa: bool = False,
                            email_domains=(), affiliations=(), firm_organization=None) -> Accreditation:
    n = next(_seq)
    user = f.UserFactory(email=email or f"auditor{n}@audit{n}.example", name=name or f"Auditor {n:03d}")
    acc = Accreditation.objects.create(
        user=user, role=Accreditation.Role.AUDITOR, firm=firm, status=Accreditation.Status.APPROVED,
        tiers=list(tiers), domains=list(domains), capacity=capacity, email_domains=list(email_domains),
        approved_at=timezone.now(), valid_until=timezone.now() + timezone.timedelta(days=730),
        firm_organization=firm_organization,
    )
    for aff in affiliations:
        Affiliation.objects.create(accreditation=acc, **aff)
    if mfa:
        f.enrol_totp(user, f.AUDITOR_TOTP_SECRET)
    return acc


def in_review_application(org, admin, staff, version: str = "1.0", **facts):
    """A Tier 3/4 application accepted into review (facts decide the tier)."""
    app = submitted_application(org, admin, version=version, **(facts or TIER3))
    applications.start_screening(app, staff)
    applications.accept_into_review(app, staff)
    app.refresh_from_db()
    return app


def pdf(name: str = "signed-report.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n",
                              content_type="application/pdf")


def engage(app, acc, staff):
    offer = offers.send_offer(app, acc, staff)
    return offers.accept_offer(offer, acc.user, confidentiality=True)


REPORT = {
    "scope": "Documentation, benchmarks and the model-access sandbox.",
    "methods": "Reproduced three benchmarks; red-teamed prompts for 2 days.",
    "issues": [{"title": "Prompt injection via tool output", "severity": "high", "description": "Reproducible."}],
    "reproduced_results": [{"benchmark": "truthfulqa", "metric": "MC2 accuracy", "reported": "0.52",
                            "reproduced": "0.51"}],
}


def file_report(engagement, recommendation: str = "pass", conditions=None):
    return reports.file_report(engagement, engagement.accreditation.user,
                                {**REPORT, "recommendation": recommendation}, conditions or [], signed_file=pdf())
