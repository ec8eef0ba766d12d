"""Every bad input is a clear 4xx (or a form error, or a one-line command error), never a 500:
deeply nested JSON and YAML, bad manifests, out-of-range times, nulls, strings for numbers,
oversized bodies, disguised names and script links."""

from __future__ import annotations

import base64
import json
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient

from certification.releases import applications as release_applications
from certification.releases.models import AIModel, Artifact, Documentation, EvidenceFile, Release
from portal.models import Organization
from tests.certification.certificate_helpers import certify
from tests.certification.factories import make_release

DEEP_JSON = b"[" * 100_000
DEEP_OBJECTS = b'{"a":' * 100_000
SHA = "a" * 64


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path, monkeypatch):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    monkeypatch.setattr(release_applications, "GATE_PROVIDERS", [])
    monkeypatch.setattr(release_applications, "REVIEW_STARTED_HOOKS", [])


@pytest.fixture
def api(org_admin):
    client = APIClient()
    client.force_authenticate(org_admin)
    return client


@pytest.fixture
def model(framework, org, org_admin):
    from certification.releases import services

    return services.register_model(org, org_admin, name="Model M", slug="m")


@pytest.fixture
def release(framework, org, org_admin):
    return make_release(org, org_admin, fill=False)


def release_body(model, **overrides) -> dict:
    return {"model": model.pk, "version": "1.0", "parameter_count": 500_000_000, "capabilities": [],
            "sensitive_domains": [], "emergent_capabilities": False, "emergent_description": "", **overrides}


def assert_json_problem(response, status=400) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    return response.json()


# --- 1. deeply nested JSON and YAML ------------------------------------------------------------------


@pytest.mark.parametrize("data", [DEEP_JSON, DEEP_OBJECTS], ids=["arrays", "objects"])
def test_classify_refuses_deep_json_with_a_400(framework, data):
    response = APIClient().post("/api/v1/classify/", data, content_type="application/json")
    body = assert_json_problem(response)
    assert "nested" in body["detail"]


def test_release_api_refuses_deep_json_with_a_400(api, model):
    body = assert_json_problem(api.post("/api/v1/releases/", DEEP_JSON, content_type="application/json"))
    assert "nested" in body["detail"]
    assert not Release.objects.exists()


def test_json_nested_just_within_the_limit_is_parsed(framework):
    from portal.parsing import DEFAULT_MAX_DEPTH

    nested = "[" * (DEFAULT_MAX_DEPTH - 1) + "]" * (DEFAULT_MAX_DEPTH - 1)
    body = {"parameter_count": 500_000_000, "capabilities": [], "extra": json.loads(nested)}
    response = APIClient().post("/api/v1/classify/", json.dumps(body), content_type="application/json")
    # Parsed: the classifier, not the parser, refuses the unknown field.
    assert response.status_code == 400 and "extra" in response.json()


def test_verify_page_reports_a_deep_envelope(framework, client):
    page = client.post("/verify/", {"envelope": SimpleUploadedFile("cert.json", DEEP_JSON)})
    assert page.status_code == 200
    text = page.content.decode()
    assert "The file does not verify" in text and "nested" in text


def test_evidence_upload_refuses_a_deep_json_file(api, release, client_for, org_admin):
    response = api.post(f"/api/v1/releases/{release.pk}/evidence/",
                        {"file": SimpleUploadedFile("results.json", DEEP_JSON)}, format="multipart")
    body = assert_json_problem(response)
    assert "nested" in body["file"][0]
    page = client_for(org_admin).post(reverse("certification:evidence-upload", args=[release.pk]),
                                      {"file": SimpleUploadedFile("results.json", DEEP_OBJECTS)}, follow=True)
    assert page.status_code == 200 and "nested" in page.content.decode()
    assert not EvidenceFile.objects.exists()


@pytest.mark.parametrize("front", [
    "license: mit\nextra: " + "[" * 100_000,
    "license: mit\nextra: " + "{a: " * 100_000,
    "license: mit\n" + "".join(" " * i + "k:\n" for i in range(300)),
], ids=["flow-sequences", "flow-mappings", "block-mappings"])
def test_model_card_with_deep_yaml_is_a_form_error(release, client_for, org_admin, front):
    card = f"---\n{front}\n---\n# Card\n".encode()
    response = client_for(org_admin).post(reverse("certification:modelcard-import", args=[release.pk]),
                                          {"card_file": SimpleUploadedFile("README.md", card)})
    assert response.status_code == 200
    assert "nested" in response.content.decode()
    assert Documentation.objects.get(release=release).sections in ({}, None)


def test_model_card_with_alias_bomb_is_refused(release):
    from certification.releases import modelcard

    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    with pytest.raises(modelcard.ModelCardError, match="alias"):
        modelcard.parse_card("---\n" + "\n".join(lines) + "\n---\n")
    with pytest.raises(modelcard.ModelCardError, match="alias"):
        modelcard.parse_card("---\na: &a [*a]\n---\n")


@pytest.mark.parametrize("which", ["envelope", "keys", "revocations"])
def test_verify_attestation_command_fails_in_one_line_on_deep_json(framework, org, org_admin, staff, client,
                                                                   tmp_path, which):
    cert = certify(org, org_admin, staff)
    files = {"envelope": tmp_path / "cert.json", "keys": tmp_path / "keys.json",
             "revocations": tmp_path / "revocations.json"}
    files["envelope"].write_bytes(bytes(cert.attestation))
    files["keys"].write_bytes(client.get("/api/v1/keys/").content)
    files["revocations"].write_bytes(client.get("/api/v1/revocations/").content)
    files[which].write_bytes(DEEP_JSON)
    with pytest.raises(CommandError) as info:
        call_command("verify_attestation", str(files["envelope"]), "--keys", str(files["keys"]),
                     "--revocations", str(files["revocations"]), stdout=StringIO())
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("keys", [b"[]", b'{"keys": [1]}', b'{"keys": [{"keyid": "k"}]}', b'{"keys": "x"}'])
def test_verify_attestation_command_reports_a_malformed_keys_file(tmp_path, keys):
    (tmp_path / "keys.json").write_bytes(keys)
    (tmp_path / "cert.json").write_bytes(b"{}")
    with pytest.raises(CommandError, match="cannot read the keys"):
        call_command("verify_attestation", str(tmp_path / "cert.json"), "--keys", str(tmp_path / "keys.json"),
                     stdout=StringIO())


# --- 2. manifests ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("content, message", [
    (b"not json", "not valid JSON"),
    (b'{"artifacts": [{"path": "../x", "size": 1, "sha256": "' + SHA.encode() + b'"}]}', "Entry 1"),
    (b"\xff\xfe", "UTF-8"),
    (DEEP_JSON, "nested"),
], ids=["syntax", "entry", "encoding", "deep"])
def test_an_invalid_manifest_file_is_a_form_error(release, client_for, org_admin, content, message):
    response = client_for(org_admin).post(reverse("certification:release-artifacts", args=[release.pk]),
                                          {"manifest_file": SimpleUploadedFile("manifest.json", content)})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Artifact.objects.filter(release=release).exists()


def test_a_manifest_over_5_mb_gets_its_own_message(release, client_for, org_admin):
    big = b'{"artifacts": []' + b" " * (5 * 1024 * 1024) + b"}"
    response = client_for(org_admin).post(reverse("certification:release-artifacts", args=[release.pk]),
                                          {"manifest_file": SimpleUploadedFile("manifest.json", big)})
    assert response.status_code == 200
    assert "larger than 5 MB" in response.content.decode()


# --- 3. times out of range ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", [
    "0275-02-26T20:07:38.821700-19:08",  # an offset no time zone has (PostgreSQL: DataError)
    "0001-01-01T00:00:00+05:00",  # before year 1 in UTC
    "9999-12-31T23:00:00-05:00",  # after year 9999 in UTC
    "2025-13-01T00:00:00Z",  # well formed, not a date
])
def test_updated_since_out_of_range_is_400_naming_the_parameter(framework, client, value):
    body = assert_json_problem(client.get("/api/v1/certificates/", {"updated_since": value}))
    assert list(body) == ["updated_since"]


def _cursor(data) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("params", [
    {"cursor": _cursor({"id": 10**30})},
    {"cursor": _cursor({"id": True})},
    {"cursor": _cursor({"id": -1})},
    {"cursor": _cursor(b"[" * 5000)},
    {"updated_since": "2025-01-01T00:00:00Z", "cursor": _cursor({"id": 1, "u": "2025-13-01T00:00:00"})},
    {"q": "acme\x00"},
], ids=["huge-id", "bool-id", "negative-id", "deep", "bad-time", "nul"])
def test_bad_registry_queries_are_400_naming_the_parameter(framework, client, params):
    body = assert_json_problem(client.get("/api/v1/certificates/", params))
    assert list(body) == [next(k for k in ("q", "cursor") if k in params)]


def test_registry_page_reports_a_bad_updated_since_too(framework):
    from certification.certificates import registry

    with pytest.raises(registry.BadQuery) as info:
        registry.search({"updated_since": "2025-01-01T00:00:00+23:00"})
    assert info.value.field == "updated_since"


# --- 4. nulls -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "text", {"a": 1}, ["telepathy"], [1]])
def test_model_modalities_must_be_a_list_of_known_modalities(api, framework, org, value):
    response = api.post("/api/v1/models/", {"organization": org.slug, "name": "M", "slug": "m",
                                            "modalities": value}, format="json")
    body = assert_json_problem(response)
    assert "modalities" in body
    assert not AIModel.objects.exists()


def test_model_modalities_accept_known_values(api, framework, org):
    response = api.post("/api/v1/models/", {"organization": org.slug, "name": "M", "slug": "m",
                                            "modalities": ["text", "code"]}, format="json")
    assert response.status_code == 201, response.json()
    assert AIModel.objects.get().modalities == ["text", "code"]


# --- 5. one validation of the release facts -------------------------------------------------------------


@pytest.mark.parametrize("field, value", [
    ("parameter_count", "1000"), ("parameter_count", 1000.0), ("parameter_count", True),
    ("emergent_capabilities", "true"), ("emergent_capabilities", 1), ("emergent_description", 5),
    ("capabilities", "code_generation"),
])
def test_release_api_validates_facts_as_classify_does(api, model, field, value):
    data = release_body(model, **{field: value})
    classify = APIClient().post("/api/v1/classify/", {k: v for k, v in data.items() if k not in ("model", "version")},
                                format="json")
    assert classify.status_code == 400 and field in classify.json()
    response = api.post("/api/v1/releases/", data, format="json")
    body = assert_json_problem(response)
    assert field in body
    assert body[field] == classify.json()[field]
    assert not Release.objects.exists()


def test_release_api_update_validates_facts_as_classify_does(api, release):
    response = api.patch(f"/api/v1/releases/{release.pk}/", {"parameter_count": "9000"}, format="json")
    assert_json_problem(response)
    release.refresh_from_db()
    assert release.parameter_count == 500_000_000


def test_release_api_accepts_good_facts(api, model):
    response = api.post("/api/v1/releases/", release_body(model, parameter_count=8_000_000_000), format="json")
    assert response.status_code == 201, response.json()
    assert Release.objects.get().parameter_count == 8_000_000_000


@pytest.mark.parametrize("count, ok", [("7,000,000,000", True), ("1000.0", False), ("1e9", False), ("0", False),
                                       (str(10**16), False)])
def test_release_page_reads_the_count_as_the_tier_check_does(model, client_for, org_admin, count, ok):
    response = client_for(org_admin).post(reverse("certification:release-create", args=[model.pk]), {
        "version": "1.0", "parameter_count": count})
    assert (response.status_code == 302) is ok, response.content.decode()[:2000]
    if ok:
        assert Release.objects.get().parameter_count == 7_000_000_000
    else:
        assert "parameter_count" in response.context["form"].errors
        assert not Release.objects.exists()


# --- 6. oversized bodies ---------------------------------------------------------------------------------


def test_a_10_mb_api_body_is_answered_in_json(api, model):
    data = json.dumps(release_body(model, emergent_description="x" * (10 * 1024 * 1024)))
    response = api.post("/api/v1/releases/", data, content_type="application/json")
    assert response.status_code in (400, 413)
    body = assert_json_problem(response, response.status_code)
    assert "larger" in body["detail"]


def test_a_10_mb_classify_body_is_answered_in_json(framework):
    data = json.dumps({"parameter_count": 1, "emergent_description": "x" * (10 * 1024 * 1024)})
    response = APIClient().post("/api/v1/classify/", data, content_type="application/json")
    assert response.status_code in (400, 413)
    assert "larger" in assert_json_problem(response, response.status_code)["detail"]


# --- 7. names and links ----------------------------------------------------------------------------------

DISGUISED = ["Acme\u202egnp.exe", "Acme\x07", "Acme\nAI", "Acme\u2066AI", "Acme\x00"]


@pytest.mark.parametrize("name", DISGUISED)
def test_model_and_release_names_refuse_controls_and_direction_marks(api, model, name):
    response = api.post("/api/v1/models/", {"organization": model.organization.slug, "name": name, "slug": "n"},
                        format="json")
    assert "name" in assert_json_problem(response)
    response = api.post("/api/v1/releases/", release_body(model, version=name), format="json")
    assert "version" in assert_json_problem(response)
    assert AIModel.objects.count() == 1 and not Release.objects.exists()


@pytest.mark.parametrize("name", DISGUISED)
def test_organization_names_refuse_controls_and_direction_marks(org_admin, name):
    api = APIClient()
    api.force_authenticate(org_admin)
    before = Organization.objects.count()
    response = api.post("/api/v1/organizations/", {"name": name}, format="json")
    assert "name" in assert_json_problem(response)
    assert Organization.objects.count() == before  # (PostgreSQL refuses NUL even in a lookup)


def test_model_form_refuses_a_disguised_name(framework, org, org_admin, client_for):
    response = client_for(org_admin).post(reverse("certification:model-create"), {"name": "Acme\u202egnp", "slug": "a"})
    assert response.status_code == 200 and not AIModel.objects.exists()
    assert "control characters" in response.content.decode() or "direction" in response.content.decode()


def test_plain_names_in_any_script_are_accepted(api, model):
    for number, name in enumerate(("Acme 7B — Instruct", "Модель", "模型 v2", "نموذج", "👩‍🔬 Lab")):
        response = api.post("/api/v1/models/", {"organization": model.organization.slug, "name": name,
                                                "slug": f"s{number}"}, format="json")
        assert response.status_code == 201, response.json()


@pytest.mark.parametrize("url", ["javascript:alert(1)", "JavaScript:alert(1)", " javascript:alert(1)",
                                 "data:text/html,<script>alert(1)</script>", "ftp://example.org/x",
                                 "vbscript:msgbox(1)"])
def test_links_must_be_http_or_https(api, release, org, url):
    for section, field in (("license", "custom_url"), ("vulnerability_contact", "disclosure_policy_url")):
        response = api.put(f"/api/v1/releases/{release.pk}/sections/{section}/", {"data": {field: url}},
                           format="json")
        body = assert_json_problem(response)
        assert field in json.dumps(body), body
    response = api.patch(f"/api/v1/organizations/{org.slug}/", {"website": url}, format="json")
    assert "website" in assert_json_problem(response)
    org.refresh_from_db()
    assert org.website == ""


def test_a_model_card_license_link_must_be_http_or_https(release, org_admin):
    from certification.releases import modelcard

    card = b"---\nlicense: other\nlicense_name: Acme License\nlicense_link: javascript:alert(1)\n---\n"
    with pytest.raises(modelcard.ModelCardError, match="license_link"):
        modelcard.import_card(release, org_admin, card)


def test_https_links_are_accepted(api, release, org):
    response = api.put(f"/api/v1/releases/{release.pk}/sections/license/",
                       {"data": {"custom_name": "Acme", "custom_url": "https://acme.example/license"}}, format="json")
    assert response.status_code == 200, response.json()
    response = api.patch(f"/api/v1/organizations/{org.slug}/", {"website": "https://acme.example"}, format="json")
    assert response.status_code == 200, response.json()
