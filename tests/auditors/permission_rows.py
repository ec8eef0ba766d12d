"""Rows of the auditor network for tests/portal/test_permissions.py.

The world gets, lazily, a Tier 3 application of the organization in review
with an engagement of an auditor who is none of the personas (so the auditor
persona is an auditor *without* the assignment), its accepted offer, a filed
report with a signed file and a condition, and the auditor's supporting file.
"""

from __future__ import annotations

from types import SimpleNamespace


def audit_world(w) -> SimpleNamespace:
    if getattr(w, "audit", None) is None:
        from auditors.models import SupportingFile
        from tests.auditors.helpers import engage, file_report, in_review_application, make_accredited_auditor

        staff = w.users["staff"]
        app = in_review_application(w.org, w.users["org_admin"], staff, version="audit-1")
        acc = make_accredited_auditor(mfa=True)
        engagement = engage(app, acc, staff)
        file_report(engagement, "pass_with_conditions", ["Publish the mitigations."])
        from django.core.files.uploadedfile import SimpleUploadedFile

        from auditors.services import store_private_file

        stored = store_private_file(SimpleUploadedFile("cv.md", b"# CV\n"), "accreditation")
        sf = SupportingFile.objects.create(accreditation=acc, **stored)
        w.audit = SimpleNamespace(app=app, acc=acc, engagement=engagement, offer=engagement.offer, file=sf,
                                  condition=engagement.report.conditions.get())
    return w.audit


def auditor_rows(g: dict) -> dict:
    row, api, signed_in, post_only, staff_only, public, LOGIN = (
        g["row"], g["api"], g["signed_in"], g["post_only"], g["staff_only"], g["public"], g["LOGIN"])

    def pk(attr):
        return lambda w: {"pk": getattr(audit_world(w), attr).pk}

    staff_post = dict(anonymous=LOGIN, staff=405)
    return {
        "auditors/": public(),
        "network/join/<str:role>/": signed_in(kwargs=lambda w: {"role": "auditor"}),
        "network/me/": signed_in(),
        "network/me/listing/": post_only(),
        "network/me/affiliations/": post_only(),
        # The supporting file is for staff (and its owner, who is no persona).
        "network/files/<int:pk>/": row(404, anonymous=LOGIN, staff=200, kwargs=pk("file")),
        "offers/<int:pk>/": row(404, anonymous=LOGIN, staff=200, kwargs=pk("offer")),
        "offers/<int:pk>/accept/": post_only(kwargs=pk("offer")),
        "offers/<int:pk>/decline/": post_only(kwargs=pk("offer")),
        "offers/<int:pk>/withdraw/": row(403, **staff_post, kwargs=pk("offer")),
        # The auditor's workspace: staff and the engaged auditor only, the applicant included in the 404s.
        "engagements/<int:pk>/": row(404, anonymous=LOGIN, staff=200, kwargs=pk("engagement")),
        "engagements/<int:pk>/submission/": row(404, anonymous=LOGIN, staff=200, kwargs=pk("engagement")),
        "engagements/<int:pk>/submission/json/": row(404, anonymous=LOGIN, staff=200, kwargs=pk("engagement")),
        # A filed report: the applicant's members read it.
        "engagements/<int:pk>/report/": g["org_page"](kwargs=pk("engagement")),
        "engagements/<int:pk>/report/signed/": g["org_page"](kwargs=pk("engagement")),
        "engagements/<int:pk>/conflict/": post_only(kwargs=pk("engagement")),
        "engagements/<int:pk>/reassign/": staff_only(kwargs=pk("engagement")),
        "conditions/<int:pk>/resolve/": post_only(kwargs=pk("condition")),
        "conditions/<int:pk>/accept/": post_only(kwargs=pk("condition")),
        "conditions/<int:pk>/return/": post_only(kwargs=pk("condition")),
        "applications/<int:pk>/audit/": g["org_page"](kwargs=pk("app")),
        "staff/accreditations/": staff_only(),
        "staff/accreditations/<int:pk>/": staff_only(kwargs=pk("acc")),
        "staff/accreditations/<int:pk>/approve/": row(403, **staff_post, kwargs=pk("acc")),
        "staff/accreditations/<int:pk>/reject/": row(403, **staff_post, kwargs=pk("acc")),
        "staff/accreditations/<int:pk>/suspend/": row(403, **staff_post, kwargs=pk("acc")),
        "staff/accreditations/<int:pk>/reinstate/": row(403, **staff_post, kwargs=pk("acc")),
        "staff/assignments/": staff_only(),
        "staff/assignments/batch/": staff_only(),
        "staff/assignments/<int:pk>/": staff_only(kwargs=pk("app")),
        "staff/assignments/<int:pk>/offers/": row(403, **staff_post, kwargs=pk("app")),
        "staff/assignments/<int:pk>/override/": row(403, **staff_post, kwargs=pk("app")),
        # --- API ---------------------------------------------------------------------------
        "api/v1/^auditors/$": api(),
        "api/v1/^auditors/batch-proposal/$": api(405),
        # The public directory needs no sign-in.
        "api/v1/^auditors/directory/$": public(),
        "api/v1/^auditors/override-conflict/$": api(405),
        # Staff without ?application= get 400 (the parameter is required).
        "api/v1/^auditors/suggestions/$": api(403, staff=400),
        "api/v1/^auditors/(?P<pk>[^/.]+)/$": api(404, staff=200, kwargs=pk("acc")),
        "api/v1/^auditors/(?P<pk>[^/.]+)/affiliations/$": api(405, kwargs=pk("acc")),
        "api/v1/^auditors/(?P<pk>[^/.]+)/approve/$": api(405, kwargs=pk("acc")),
        "api/v1/^auditors/(?P<pk>[^/.]+)/files/$": api(405, kwargs=pk("acc")),
        "api/v1/^auditors/(?P<pk>[^/.]+)/listing/$": api(405, kwargs=pk("acc")),
        "api/v1/^auditors/(?P<pk>[^/.]+)/reinstate/$": api(405, kwargs=pk("acc")),
        "api/v1/^auditors/(?P<pk>[^/.]+)/reject/$": api(405, kwargs=pk("acc")),
        "api/v1/^auditors/(?P<pk>[^/.]+)/suspend/$": api(405, kwargs=pk("acc")),
        "api/v1/^offers/$": api(),
        "api/v1/^offers/(?P<pk>[^/.]+)/$": api(404, staff=200, kwargs=pk("offer")),
        "api/v1/^offers/(?P<pk>[^/.]+)/accept/$": api(405, kwargs=pk("offer")),
        "api/v1/^offers/(?P<pk>[^/.]+)/decline/$": api(405, kwargs=pk("offer")),
        "api/v1/^offers/(?P<pk>[^/.]+)/withdraw/$": api(405, kwargs=pk("offer")),
        "api/v1/^engagements/$": api(),
        "api/v1/^engagements/(?P<pk>[^/.]+)/$": api(404, org_admin=200, org_member=200, staff=200,
                                                    kwargs=pk("engagement")),
        "api/v1/^engagements/(?P<pk>[^/.]+)/submission/$": api(404, staff=200, kwargs=pk("engagement")),
        "api/v1/^engagements/(?P<pk>[^/.]+)/report/$": api(404, org_admin=200, org_member=200, staff=200,
                                                           kwargs=pk("engagement")),
        "api/v1/^engagements/(?P<pk>[^/.]+)/file-report/$": api(405, kwargs=pk("engagement")),
        "api/v1/^engagements/(?P<pk>[^/.]+)/reassign/$": api(405, kwargs=pk("engagement")),
        "api/v1/^engagements/(?P<pk>[^/.]+)/declare-conflict/$": api(405, kwargs=pk("engagement")),
        "api/v1/^engagements/(?P<pk>[^/.]+)/resolve-condition/$": api(405, kwargs=pk("engagement")),
        "api/v1/^engagements/(?P<pk>[^/.]+)/accept-condition/$": api(405, kwargs=pk("engagement")),
        "api/v1/^engagements/(?P<pk>[^/.]+)/return-condition/$": api(405, kwargs=pk("engagement")),
    }
