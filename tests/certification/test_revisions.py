"""Frozen documentation revisions (DESIGN §4): hashed over their canonical JSON
(with the evidence file hashes), listed for members with the changes between them."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from certification.releases import applications as release_applications
from certification.releases import evidence, services
from certification.releases.models import Documentation, DocumentationRevision
from portal.canonical import canonical_sha256
from tests.certification.factories import submitted_application

NEW_LIMITATIONS = "Weaker outside English; fails on arithmetic with more than 6 digits."


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"


@pytest.fixture
def resubmitted(framework, org, org_admin, staff):
    """Two revisions: the model card's limitations and one evidence file changed in between."""
    app = submitted_application(org, org_admin)
    release_applications.start_screening(app, staff)
    release_applications.request_changes(app, staff, {"model_card": "Be specific about the limitations."})
    card = dict(Documentation.objects.get(release=app.release).section("model_card"), limitations=NEW_LIMITATIONS)
    services.update_section(app.release, org_admin, "model_card", card)
    evidence.store(app.release, ContentFile(b"# Extra bias analysis\n", name="extra.md"), org_admin,
                   section="bias_report")
    release_applications.submit_application(app, org_admin, signer_name="Ada Admin", signer_title="CTO", affirmed=[1,
        2, 3, 6])
    return app


def test_revision_hash_is_the_sha256_of_its_canonical_json(resubmitted):
    revisions = list(DocumentationRevision.objects.filter(application=resubmitted).order_by("number"))
    assert [r.number for r in revisions] == [1, 2]
    for revision in revisions:
        # Read back from the database: the stored content still hashes to the stored digest.
        assert revision.sha256 == canonical_sha256(revision.content)
        assert revision.attestation.revision_sha256 == revision.sha256
    assert revisions[0].sha256 != revisions[1].sha256


def test_revision_content_carries_the_evidence_hashes(resubmitted):
    first, second = DocumentationRevision.objects.filter(application=resubmitted).order_by("number")
    expected = hashlib.sha256(b"# Extra bias analysis\n").hexdigest()
    assert expected not in {e["sha256"] for e in first.content["evidence"]}
    assert expected in {e["sha256"] for e in second.content["evidence"]}
    assert first.content["sections"]["model_card"]["limitations"] != NEW_LIMITATIONS
    assert second.content["sections"]["model_card"]["limitations"] == NEW_LIMITATIONS


def test_member_sees_the_revision_list(client, resubmitted, org_member):
    client.force_login(org_member)
    page = client.get(reverse("certification:application-detail", args=[resubmitted.pk])).content.decode()
    for revision in resubmitted.revisions.all():
        assert reverse("certification:revision-detail", args=[resubmitted.pk, revision.number]) in page
        assert revision.sha256 in page
    compare = reverse("certification:revision-detail", args=[resubmitted.pk, 2]) + "?compare=1"
    assert compare in page


def test_member_sees_the_changes_between_revisions(client, resubmitted, org_member):
    client.force_login(org_member)
    url = reverse("certification:revision-detail", args=[resubmitted.pk, 2])
    response = client.get(url, {"compare": "1"})
    assert response.status_code == 200
    diff = response.context["diff"]
    changed = {(row.section, row.label) for row in diff["rows"]}
    assert ("Model card", "Known limitations") in changed
    assert ("Bias evaluation report", "Evidence files: extra.md") in changed
    # Unchanged sections are not listed.
    assert not {section for section, _label in changed} & {"License", "Compute"}
    limitations = next(row for row in diff["rows"] if row.label == "Known limitations")
    assert limitations.after == NEW_LIMITATIONS and limitations.before != NEW_LIMITATIONS
    page = response.content.decode()
    assert "Changes from revision 1 to 2" in page and "Weaker outside English; fails on arithmetic" in page


def test_revision_page_without_compare_shows_the_frozen_content(client, resubmitted, org_member):
    client.force_login(org_member)
    revision = resubmitted.revisions.get(number=1)
    response = client.get(reverse("certification:revision-detail", args=[resubmitted.pk, 1]))
    assert response.status_code == 200 and response.context["diff"] is None
    assert revision.sha256 in response.content.decode()
    # A revision that does not exist is simply not compared.
    assert client.get(reverse("certification:revision-detail", args=[resubmitted.pk, 1]),
                      {"compare": "9"}).context["diff"] is None


def test_unknown_revision_is_404(client, resubmitted, org_member):
    client.force_login(org_member)
    assert client.get(reverse("certification:revision-detail", args=[resubmitted.pk, 3])).status_code == 404


def test_other_organization_gets_404_on_revisions(client, resubmitted, other_member):
    client.force_login(other_member)
    assert client.get(reverse("certification:application-detail", args=[resubmitted.pk])).status_code == 404
    for number in (1, 2):
        url = reverse("certification:revision-detail", args=[resubmitted.pk, number])
        assert client.get(url, {"compare": "1"}).status_code == 404
    assert client.get(f"/api/v1/applications/{resubmitted.pk}/").status_code == 404


def test_api_lists_the_revisions_with_their_hashes(client, resubmitted, org_member):
    client.force_login(org_member)
    body = client.get(f"/api/v1/applications/{resubmitted.pk}/").json()
    assert [(r["number"], r["sha256"]) for r in body["revisions"]] == list(
        resubmitted.revisions.order_by("number").values_list("number", "sha256"))
