"""Certified applications in a few calls, for the certificate, registry, verify,
badge, appeal and offline-verification tests."""

from __future__ import annotations

from datetime import timedelta

from certification.certificates import services as certificate_services
from certification.certificates import signing
from certification.certificates.models import Certificate
from certification.releases import applications as release_applications
from certification.releases import services as release_services
from certification.releases.models import Application
from tests import factories as f
from tests.certification.factories import submitted_application

S = Application.Status
SHA_A = "a" * 64
SHA_B = "b" * 64
TIER3_FACTS = {"parameter_count": 80_000_000_000}


def artifacts(*digests: str) -> list[dict]:
    return [{"path": f"model-{i:05d}.safetensors", "size": 100 + i, "sha256": d} for i, d in enumerate(digests, 1)]


def decision_pending(org, admin, staff, *, version="1.0", digests=(SHA_A,), hub_repo_id="", **facts) -> Application:
    """An application awaiting decision. Tier 3/4 have no gates yet in this
    checkout beyond the ones later work items add; the tests clear those."""
    from certification.releases.models import AIModel

    app = submitted_application(org, admin, version=version, **facts) if not digests else None
    if app is None:
        from tests.certification.factories import make_release

        release = make_release(org, admin, version=version, **facts)
        release_services.replace_artifacts(release, admin, artifacts(*digests))
        if hub_repo_id:
            AIModel.objects.filter(pk=release.ai_model_id).update(hub_repo_id=hub_repo_id)
            release.refresh_from_db()
        app = release_applications.start_application(release, admin)
        release_applications.submit_application(app, admin, signer_name="Ada Admin", signer_title="CTO",
                                    affirmed=[1, 2, 3, 4, 5, 6])
    release_applications.start_screening(app, staff)
    release_applications.accept_into_review(app, staff)
    if (app.tier or 1) <= 2:
        release_applications.complete_review(app, staff)
    else:
        assert release_applications.advance_if_ready(app, staff), release_applications.open_gates(app)
    app.refresh_from_db()
    assert app.status == S.DECISION_PENDING
    return app


def certify(org, admin, staff, second_staff=None, **kw) -> Certificate:
    app = decision_pending(org, admin, staff, **kw)
    certificate_services.approve(app, staff)
    if (app.tier or 1) >= 3:
        certificate_services.approve(app, second_staff or f.make_staff())
    return Certificate.objects.get(application=app)


def backdate(cert: Certificate, days: int) -> Certificate:
    """Move a certificate's issue and expiry into the past and sign it again, so
    the signed predicate still names its times."""
    Certificate.objects.filter(pk=cert.pk).update(
        issued_at=cert.issued_at - timedelta(days=days), expires_at=cert.expires_at - timedelta(days=days))
    cert.refresh_from_db()
    signing.sign_certificate(cert, force=True)
    cert.refresh_from_db()
    return cert
