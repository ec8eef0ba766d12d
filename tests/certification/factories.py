from __future__ import annotations

from certification.releases import applications, sample, services
from certification.releases.models import AIModel, Release


def make_release(org, user, *, parameter_count=500_000_000, version="1.0", fill=True, **facts) -> Release:
    model = AIModel.objects.filter(organization=org, slug="m").first() or services.register_model(
        org, user, name="Model M", slug="m")
    data = {"version": version, "parameter_count": parameter_count, "capabilities": [], "sensitive_domains": [],
            "emergent_capabilities": False, "emergent_description": "", **facts}
    release = services.create_release(model, user, data)
    if fill:
        sample.fill_documentation(release, user)
    return release


def submitted_application(org, admin, **kw):
    release = make_release(org, admin, **kw)
    app = applications.start_application(release, admin)
    applications.submit_application(app, admin, signer_name="Ada Admin", signer_title="CTO",
                                affirmed=[1, 2, 3, 4, 5, 6])
    return app
