"""Lineage and upstream checks (issue 16 §1): declaring upstream models in the browser and the API,
resolving them to certificates with statuses and flags, the chain in the verify API within one
query budget at any depth, the signed predicate, notifications down the chain, the registry's
"built on" filter and the certificate page's derivatives."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import urllib.request
from contextlib import redirect_stdout
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from certification.certificates import lineage
from certification.certificates import services as certificate_services
from certification.certificates.models import Certificate
from certification.framework.services import WorkflowError
from certification.releases import applications as release_applications
from certification.releases import lineage as release_lineage
from certification.releases import services as release_services
from certification.releases.models import AIModel, Upstream
from portal.models import Notification
from certification.certificates import keys as certificate_keys
from tests import factories as f
from tests.certification.certificate_helpers import artifacts
from tests.certification.factories import make_release
from tests.certification.test_offline_verify import README, readme_snippet


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path, monkeypatch):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    monkeypatch.setattr(release_applications, "GATE_PROVIDERS", [])
    monkeypatch.setattr(release_applications, "REVIEW_STARTED_HOOKS", [])


def sha(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


def certified(org, admin, staff, version: str, upstreams=(), **facts) -> Certificate:
    """A Tier 1/2 certificate of release ``version`` (one file, sha("file:<version>")) that declares
    ``upstreams`` (relation, kind, value) before it applies."""
    release = make_release(org, admin, version=version, **facts)
    release_services.replace_artifacts(release, admin, artifacts(sha(f"file:{version}")))
    for relation, kind, value in upstreams:
        release_lineage.add_upstream(release, admin, relation=relation, kind=kind, value=value)
    app = release_applications.start_application(release, admin)
    release_applications.submit_application(app, admin, signer_name="Ada Admin", signer_title="CTO",
                                            affirmed=[1, 2, 3, 4, 5, 6])
    release_applications.start_screening(app, staff)
    release_applications.accept_into_review(app, staff)
    release_applications.complete_review(app, staff)
    certificate_services.approve(app, staff)
    return Certificate.objects.get(application=app)


def built_on(cert: Certificate, relation: str = "fine_tune") -> tuple:
    return (relation, "certificate", cert.number)


@pytest.fixture
def staff2(db):
    return f.make_staff()


@pytest.fixture
def base(framework, org, org_admin, staff):
    return certified(org, org_admin, staff, "base")


@pytest.fixture
def derived(base, other_org, staff):
    admin = f.MembershipFactory(organization=other_org, role="admin").user
    return certified(other_org, admin, staff, "ft", upstreams=[built_on(base)])


# --- declaring -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fields, field", [
    ({"relation": "cousin of", "kind": "certificate", "value": "RRC-2025-AAAAAAAA"}, "relation"),
    ({"relation": "merge", "kind": "url", "value": "RRC-2025-AAAAAAAA"}, "kind"),
    ({"relation": "merge", "kind": "certificate", "value": "  "}, "value"),
    ({"relation": "merge", "kind": "certificate", "value": "RRC 2025"}, "value"),
    ({"relation": "merge", "kind": "sha256", "value": "abc"}, "value"),
    ({"relation": "merge", "kind": "model", "value": "no-slash"}, "value"),
    ({"relation": "merge", "kind": "model", "value": "acme/\u202eevil"}, "value"),
])
def test_a_bad_declaration_names_its_field_and_writes_nothing(framework, org, org_admin, fields, field):
    release = make_release(org, org_admin)
    with pytest.raises(WorkflowError) as caught:
        release_lineage.add_upstream(release, org_admin, **fields)
    assert field in caught.value.errors
    assert not Upstream.objects.exists()


def test_declarations_are_normalized_once_and_not_about_the_release_itself(framework, org, org_admin):
    release = make_release(org, org_admin)
    release_services.replace_artifacts(release, org_admin, artifacts(sha("own")))
    AIModel.objects.filter(pk=release.ai_model_id).update(hub_repo_id="acme/m")
    release.ai_model.refresh_from_db()
    up = release_lineage.add_upstream(release, org_admin, relation="merge", kind="certificate",
                                      value=" rrc-2025-abcdefgh ")
    assert up.value == "RRC-2025-ABCDEFGH"
    for kind, value in (("certificate", "RRC-2025-abcdefgh"), ("sha256", sha("own")), ("model", "ACME/m")):
        with pytest.raises(WorkflowError) as caught:
            release_lineage.add_upstream(release, org_admin, relation="merge", kind=kind, value=value)
        assert "value" in caught.value.errors, kind
    assert release.upstreams.count() == 1


def test_a_release_under_review_cannot_change_its_upstreams(base, org_admin):
    with pytest.raises(WorkflowError):
        release_lineage.add_upstream(base.release, org_admin, relation="merge", kind="model", value="x/y")
    with pytest.raises(WorkflowError):
        release_lineage.remove_upstream(Upstream.objects.create(release=base.release, relation="merge",
                                                                kind="model", value="x/y"), org_admin)


def test_api_lists_adds_and_removes_upstreams(base, org, org_admin, other_member, client_for):
    release = make_release(org, org_admin, version="2.0", declared_tier=2)
    url = f"/api/v1/releases/{release.pk}/upstreams/"
    client = client_for(org_admin)
    response = client.post(url, {"relation": "fine_tune", "kind": "certificate", "value": base.number.lower()},
                           content_type="application/json")
    assert response.status_code == 201, response.content
    body = response.json()
    # Tier 2 documentation built on a Tier 1 certificate: flagged.
    assert body | {"id": 0} == {"id": 0, "relation": "fine_tune", "kind": "certificate", "value": base.number,
                                "status": "valid", "flags": ["lower_tier"], "certificate": base.number}
    bad = client.post(url, {"relation": "fine_tune", "kind": "sha256", "value": "xyz"}, content_type="application/json")
    assert bad.status_code == 400 and "value" in bad.json()
    bad = client.post(url, {"relation": "sibling", "kind": "sha256", "value": "xyz"}, content_type="application/json")
    assert bad.status_code == 400 and "relation" in bad.json()
    assert client.get(url).json()[0]["status"] == "valid"
    assert client_for(other_member).get(url).status_code == 404
    assert client_for(other_member).delete(f"{url}{body['id']}/").status_code == 404
    client = client_for(org_admin)
    assert client.delete(f"{url}{body['id']}/").status_code == 204
    assert client.get(url).json() == []


def test_the_page_declares_shows_and_removes(base, org, org_admin, client_for):
    release = make_release(org, org_admin, version="2.0")
    client = client_for(org_admin)
    url = f"/releases/{release.pk}/upstreams/"
    response = client.post(url, {"relation": "distilled", "kind": "certificate", "value": base.number})
    assert response.status_code == 302
    page = client.get(url).content.decode()
    assert base.number in page and "Distilled from" in page and "Valid" in page
    response = client.post(url, {"relation": "distilled", "kind": "sha256", "value": "not a digest"})
    assert response.status_code == 200
    assert "This is not the 64 hexadecimal digits" in response.content.decode()
    upstream = release.upstreams.get()
    assert client.post(f"{url}{upstream.pk}/delete/").status_code == 302
    assert not release.upstreams.exists()
    assert "Built on" in client.get(f"/releases/{release.pk}/").content.decode()


# --- resolving ------------------------------------------------------------------------------------------------


def test_each_status_and_flag(base, org, org_admin, staff, staff2):
    ok = certified(org, org_admin, staff, "ok")
    gone = certified(org, org_admin, staff, "gone")
    old = certified(org, org_admin, staff, "old")
    certificate_services.suspend(base, staff, "Investigating")
    certificate_services.propose_revocation(gone, staff, "Fraud")
    certificate_services.confirm_revocation(gone, staff2)
    Certificate.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(days=1))
    AIModel.objects.create(organization=org, name="Draft", slug="draft", hub_repo_id="acme/draft")
    release = make_release(org, org_admin, version="new", declared_tier=2)
    for kind, value in (("certificate", base.number), ("sha256", sha("file:gone")), ("certificate", old.number),
                        ("model", "ACME/draft"), ("model", "elsewhere/base"), ("certificate", ok.number)):
        release_lineage.add_upstream(release, org_admin, relation="merge", kind=kind, value=value)
    links = release_lineage.resolve(release, 2)
    assert [(link.status, link.flags) for link in links] == [
        ("suspended", ["suspended", "lower_tier"]), ("revoked", ["revoked", "lower_tier"]),
        ("expired", ["lower_tier"]), ("uncertified", []), ("unknown", []), ("valid", ["lower_tier"])]
    assert [link.status for link in release_lineage.resolve(release, 1)][-1] == "valid"
    assert release_lineage.resolve(release, 1)[-1].flags == []


def test_a_renewed_certificate_answers_for_the_number_it_superseded(base, org_admin, staff):
    Certificate.objects.filter(pk=base.pk).update(issued_at=base.issued_at - timedelta(days=200))
    app = certificate_services.start_renewal(Certificate.objects.get(pk=base.pk), org_admin)
    release_applications.submit_application(app, org_admin, signer_name="A", signer_title="B",
                                            affirmed=[1, 2, 3, 4, 5, 6])
    release_applications.start_screening(app, staff)
    release_applications.accept_into_review(app, staff)
    release_applications.complete_review(app, staff)
    certificate_services.approve(app, staff)
    renewal = Certificate.objects.get(application=app)
    upstream = Upstream(pk=0, relation="merge", kind="certificate", value=base.number)
    assert lineage.resolve([upstream]) == {0: ("valid", renewal)}


# --- the chain in the verify API -------------------------------------------------------------------------------


def chain_of(depth: int, org, admin, staff) -> list[Certificate]:
    """depth + 1 certificates, each built on the one before, named alternately by sha256 and number."""
    certs = [certified(org, admin, staff, "c0")]
    for i in range(1, depth + 1):
        previous = certs[-1]
        declared = ("quantization", "sha256", sha(f"file:c{i - 1}")) if i % 2 else built_on(previous)
        certs.append(certified(org, admin, staff, f"c{i}", upstreams=[declared]))
    return certs


def lineage_queries(client, cert: Certificate) -> tuple[dict, int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/verify/", {"certificate": cert.number, "lineage": "1"})
    assert response.status_code == 200, response.content
    return response.json(), len(queries)


def test_lineage_walks_the_whole_chain_in_the_same_query_budget_at_depth_1_and_5(
        framework, org, org_admin, staff, client, django_assert_max_num_queries):
    certs = chain_of(5, org, org_admin, staff)
    shallow, shallow_queries = lineage_queries(client, certs[1])
    deep, deep_queries = lineage_queries(client, certs[5])
    assert [(link["depth"], link["derivative"], link["certificate"]["number"]) for link in deep["lineage"]] == [
        (depth, certs[5 - depth + 1].number, certs[5 - depth].number) for depth in range(1, 6)]
    assert [link["status"] for link in deep["lineage"]] == ["valid"] * 5
    assert [link["named_by"] for link in deep["lineage"]] == ["sha256", "certificate"] * 2 + ["sha256"]
    assert len(shallow["lineage"]) == 1 and deep["verified"] is True and deep["lineage_flags"] == []
    assert shallow_queries == deep_queries
    # The lookup, the reachable releases, their declarations, the files named by sha256, the certificates.
    with django_assert_max_num_queries(5):
        client.get("/api/v1/verify/", {"certificate": certs[5].number, "lineage": "1"})


def test_lineage_answers_follow_upstream_status_changes_and_bad_values_are_400(derived, base, staff, client):
    plain = client.get("/api/v1/verify/", {"certificate": derived.number}).json()
    assert "lineage" not in plain
    first = client.get("/api/v1/verify/", {"sha256": sha("file:ft"), "lineage": "1"}).json()
    assert first["lineage"][0]["status"] == "valid"
    certificate_services.suspend(base, staff, "Investigating")
    after = client.get("/api/v1/verify/", {"sha256": sha("file:ft"), "lineage": "1"}).json()
    assert after["lineage"][0]["status"] == "suspended" and after["lineage_flags"] == ["suspended"]
    assert after["verified"] is True  # the derivative's own certificate still counts
    bad = client.get("/api/v1/verify/", {"certificate": derived.number, "lineage": "yes"})
    assert bad.status_code == 400 and "lineage" in bad.json()


# --- the signed statement ---------------------------------------------------------------------------------------


def predicate_of(cert: Certificate) -> dict:
    cert.refresh_from_db()
    envelope = json.loads(bytes(cert.attestation))
    return json.loads(base64.b64decode(envelope["payload"]))["predicate"]


def test_the_predicate_lists_upstreams_as_resource_descriptors(base, derived):
    assert "upstreams" not in predicate_of(base)
    base.refresh_from_db()
    [descriptor] = predicate_of(derived)["upstreams"]
    assert descriptor == {
        "name": base.number,
        "uri": f"http://testserver/registry/{base.number}/attestation.json".replace(
            "http://testserver", descriptor["uri"].split("/registry/")[0]),
        "digest": {"sha256": hashlib.sha256(bytes(base.attestation)).hexdigest()},
        "annotations": {"relation": "fine_tune", "named_by": "certificate", "declared": base.number, "tier": 1},
    }


def test_the_readme_walks_the_chain_offline(framework, org, org_admin, staff, tmp_path, monkeypatch):
    """The README's chain walk, run as written with ``verify.py``'s functions, over attestations the
    portal serves (fetched here from the database instead of over HTTP)."""
    certs = chain_of(2, org, org_admin, staff)
    envelopes = {c.number: bytes(Certificate.objects.get(pk=c.pk).attestation) for c in certs}
    served = []

    def urlopen(url):
        served.append(url)
        return io.BytesIO(envelopes[url.rstrip("/").split("/")[-2]])

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    section = README.read_text("utf-8").split("## Lineage and upstream checks", 1)[1].split("\n## ", 1)[0]
    [walk] = re.findall(r"```python\n(.*?)```", section, re.S)
    functions = readme_snippet().split("envelope = json.loads", 1)[0]
    (tmp_path / "cert.json").write_bytes(envelopes[certs[2].number])
    (tmp_path / "keys.json").write_text(json.dumps({"keys": [k.as_json() for k in
                                                             certificate_keys.verification_keys()]}))
    monkeypatch.setattr("sys.argv", ["chain.py", str(tmp_path / "cert.json"), str(tmp_path / "keys.json")])
    out = io.StringIO()
    with redirect_stdout(out):
        exec(compile(functions + walk, "chain.py", "exec"), {"__name__": "__main__"})
    assert [line.split()[0] for line in out.getvalue().splitlines()] == [c.number for c in reversed(certs)]
    assert len(served) == 2
    # A changed upstream attestation is refused: its bytes no longer hash to the signed digest.
    envelopes[certs[1].number] += b" "
    with pytest.raises(AssertionError, match="digest differs"), redirect_stdout(io.StringIO()):
        exec(compile(functions + walk, "chain.py", "exec"), {"__name__": "__main__"})


# --- notifications, pages, registry ------------------------------------------------------------------------------


def test_suspending_an_upstream_tells_every_certified_derivative_down_the_chain(
        base, derived, other_org, org, org_admin, staff, client):
    other_admin = other_org.memberships.get(role="admin").user
    grandchild = certified(org, org_admin, staff, "gc", upstreams=[("adapter", "sha256", sha("file:ft"))])
    certificate_services.suspend(base, staff, "Training-data leakage")
    notes = Notification.objects.filter(kind="upstream-certificate-changed")
    assert set(notes.values_list("user_id", "url")) == {
        (other_admin.pk, f"/registry/{derived.number}/"), (org_admin.pk, f"/registry/{grandchild.number}/")}
    assert base.number in notes.get(user=other_admin).subject
    page = client.get(f"/registry/{derived.number}/").content.decode()
    assert "An upstream model needs attention" in page and "Training-data leakage" in page
    certificate_services.reinstate(base, staff, "Cleared")
    assert notes.count() == 2  # reinstating tells no one


def test_certificate_page_lists_derivatives_and_the_registry_filters_by_upstream(base, derived, client):
    page = client.get(f"/registry/{base.number}/").content.decode()
    assert "Known derivatives" in page and f"/registry/{derived.number}/" in page
    for value in (base.number, sha("file:base")):
        listed = client.get("/registry/", {"built_on": value}).content.decode()
        assert derived.number in listed and base.number not in listed.split("<table", 1)[-1], value
    api = client.get("/api/v1/certificates/", {"built_on": base.number}).json()
    assert [c["number"] for c in api["results"]] == [derived.number]
    assert client.get("/api/v1/certificates/", {"built_on": "elsewhere/none"}).json()["results"] == []


def test_staff_see_the_flags_at_screening(base, org, org_admin, staff, client_for):
    release = make_release(org, org_admin, version="next", declared_tier=2)
    release_lineage.add_upstream(release, org_admin, relation="merge", kind="certificate", value=base.number)
    app = release_applications.start_application(release, org_admin)
    release_applications.submit_application(app, org_admin, signer_name="A", signer_title="B",
                                            affirmed=[1, 2, 3, 4, 5, 6])
    page = client_for(staff).get(f"/applications/{app.pk}/").content.decode()
    assert "Upstream checks" in page and "Certified at a lower tier than this release" in page.replace(
        "certified at a lower tier", "Certified at a lower tier")
