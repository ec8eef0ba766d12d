"""OpenSSF model-signing bundles of certificates (issue 18, certification/certificates/modelsigning.py).

The bundle is checked three ways: its payload against a fixed vector (tests/certification/
model-signing-p256.json) and against the certified artifacts, its signature by verifying it (ECDSA
signatures differ per run), and, in the ``slow`` tests, by the real ``model_signing verify key``
of the project's virtualenv against a model directory, with the bundle and the key downloaded
over HTTP from a live server. Tampered bundles are refused by the verify page and by the tool.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.exceptions import ImproperlyConfigured
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from certification.certificates import keys, modelsigning
from certification.certificates import services as certificate_services
from certification.certificates.attestations import VerificationError
from certification.certificates.checks import check_signing_key
from certification.certificates.models import Certificate, ModelSignature
from certification.releases import applications
from portal.canonical import canonical_json
from portal.models import AuditEntry
from tests import factories as f
from tests.certification.certificate_helpers import SHA_A, SHA_B, backdate, certify

VECTOR = json.loads((Path(__file__).parent / "model-signing-p256.json").read_text())
VECTOR_KEY = keys._ec_private_key_from_env(VECTOR["private_key_scalar_base64"])
MODEL_SIGNING = Path(sys.executable).with_name("model_signing")


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path, monkeypatch):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    monkeypatch.setattr(applications, "GATE_PROVIDERS", [])
    monkeypatch.setattr(applications, "REVIEW_STARTED_HOOKS", [])


@pytest.fixture
def staff2(db):
    return f.make_staff()


def published() -> list[keys.ModelSigningKey]:
    return keys.model_verification_keys()


def stored(cert: Certificate) -> bytes:
    return bytes(ModelSignature.objects.get(certificate=cert).bundle)


def statement_of(bundle: bytes) -> dict:
    return json.loads(base64.b64decode(json.loads(bundle)["dsseEnvelope"]["payload"]))


def with_payload(bundle: bytes, payload: bytes) -> bytes:
    """The bundle with another payload and the original signature."""
    data = json.loads(bundle)
    data["dsseEnvelope"]["payload"] = base64.b64encode(payload).decode()
    return canonical_json(data)


def tampered(bundle: bytes, what: str) -> bytes:
    """One change an attacker would make: a file's digest (payload), the signature, or the file list
    with the subject digest recomputed so that the statement is consistent again (resources)."""
    data = json.loads(bundle)
    if what == "signature":
        sig = bytearray(base64.b64decode(data["dsseEnvelope"]["signatures"][0]["sig"]))
        sig[-1] ^= 1
        data["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
        return canonical_json(data)
    statement = statement_of(bundle)
    resources = statement["predicate"]["resources"]
    if what == "payload":
        resources[0]["digest"] = hashlib.sha256(b"something else").hexdigest()
    elif what == "resources":
        del resources[-1]
        statement["subject"][0]["digest"]["sha256"] = modelsigning.subject_digest(
            [(r["name"], r["digest"]) for r in resources])
    return with_payload(bundle, canonical_json(statement))


def reason(data: bytes, keys_: list[keys.ModelSigningKey]) -> str:
    with pytest.raises(VerificationError) as err:
        modelsigning.verify_bundle(data, keys_)
    return err.value.reason


def certify_files(org, admin, staff, files: dict[str, bytes]) -> Certificate:
    """A Tier 1 certificate of a release that lists exactly these files."""
    from certification.releases import services as release_services
    from tests.certification.factories import make_release

    release = make_release(org, admin, version=f"files-{len(files)}")
    release_services.replace_artifacts(release, admin, [
        {"path": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()} for name, data in files.items()])
    app = applications.start_application(release, admin)
    applications.submit_application(app, admin, signer_name="Ada", signer_title="CTO", affirmed=[1, 2, 3, 4, 5, 6])
    applications.start_screening(app, staff)
    applications.accept_into_review(app, staff)
    applications.complete_review(app, staff)
    certificate_services.approve(app, staff)
    return Certificate.objects.get(application=app)


# --- the fixed vector ------------------------------------------------------------------------------


def vector_key() -> keys.ModelSigningKey:
    return keys.ModelSigningKey(VECTOR["keyid"], VECTOR["public_key_pem"].encode(), keys.EPOCH)


def test_vector_pins_the_payload_byte_for_byte():
    artifacts = [tuple(a) for a in VECTOR["artifacts"]]
    payload = modelsigning.build_payload(VECTOR["subject_name"], artifacts)
    assert payload == VECTOR["payload"].encode()
    assert hashlib.sha256(payload).hexdigest() == VECTOR["payload_sha256"]
    # The artifacts' order does not matter: resources are sorted by name.
    assert modelsigning.build_payload(VECTOR["subject_name"], artifacts[::-1]) == payload


def test_vector_key_and_its_keyid_are_the_tools_hint():
    pem = keys.public_key_pem(VECTOR_KEY)
    assert pem.decode() == VECTOR["public_key_pem"]
    assert VECTOR["keyid"] == "sha256:" + hashlib.sha256(pem).hexdigest()
    assert json.loads(VECTOR["bundle"])["verificationMaterial"]["publicKey"]["hint"] == VECTOR["keyid"][7:]


def test_vector_artifacts_are_the_files_and_the_subject_their_digests_concatenated():
    digests = {name: hashlib.sha256(text.encode()).hexdigest() for name, text in VECTOR["files"].items()}
    assert dict(tuple(a) for a in VECTOR["artifacts"]) == digests
    raw = b"".join(bytes.fromhex(digests[name]) for name in sorted(digests))
    assert VECTOR["subject_sha256"] == hashlib.sha256(raw).hexdigest()
    assert json.loads(VECTOR["payload"])["subject"] == [
        {"name": VECTOR["subject_name"], "digest": {"sha256": VECTOR["subject_sha256"]}}]


def test_a_signature_is_checked_by_verifying_it():
    payload = VECTOR["payload"].encode()
    first, second = modelsigning.sign_bundle(payload, VECTOR_KEY), modelsigning.sign_bundle(payload, VECTOR_KEY)
    for bundle in (first, second, VECTOR["bundle"].encode()):
        verified = modelsigning.verify_bundle(bundle, [vector_key()])
        assert verified.payload == payload and verified.keyid == VECTOR["keyid"]
        assert verified.subject_sha256 == VECTOR["subject_sha256"]
    other = ec.generate_private_key(ec.SECP256R1())
    other_key = keys.ModelSigningKey(keys.model_keyid_for(keys.public_key_pem(other)), keys.public_key_pem(other),
                                     keys.EPOCH)
    assert reason(first, [other_key]) == VerificationError.UNKNOWN_KEY


def test_bundle_has_the_shape_model_signing_writes():
    bundle = json.loads(VECTOR["bundle"])
    assert bundle["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    assert bundle["verificationMaterial"]["tlogEntries"] == []
    envelope = bundle["dsseEnvelope"]
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    assert [set(s) for s in envelope["signatures"]] == [{"sig", "keyid"}] and envelope["signatures"][0]["keyid"] == ""
    statement = json.loads(VECTOR["payload"])
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://model_signing/signature/v1.0"
    assert statement["predicate"]["serialization"] == {
        "method": "files", "hash_type": "sha256", "allow_symlinks": False,
        "ignore_paths": [".gitattributes", ".git", ".gitignore", ".github"]}


@pytest.mark.parametrize("what", ["payload", "signature", "resources"])
def test_tampered_vector_bundles_are_refused(what):
    assert reason(tampered(VECTOR["bundle"].encode(), what), [vector_key()]) == VerificationError.BAD_SIGNATURE


@pytest.mark.parametrize("data, expected", [
    (b"not json", VerificationError.MALFORMED),
    (b"[" * 100 + b"]" * 100, VerificationError.MALFORMED),
    (b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.2+json"}', VerificationError.MALFORMED),
])
def test_files_that_are_not_bundles_are_malformed(data, expected):
    assert reason(data, [vector_key()]) == expected


def test_a_bundle_with_a_non_canonical_signature_encoding_is_refused():
    data = json.loads(VECTOR["bundle"])
    data["dsseEnvelope"]["signatures"][0]["sig"] = data["dsseEnvelope"]["signatures"][0]["sig"].rstrip("=") + "\n"
    assert reason(canonical_json(data), [vector_key()]) == VerificationError.MALFORMED


def test_a_certified_dotfile_is_not_ignored_by_the_tool():
    assert modelsigning.ignore_paths(["model.safetensors"]) == list(modelsigning.DEFAULT_IGNORE_PATHS)
    assert modelsigning.ignore_paths([".gitattributes", ".github/README.md"]) == [".git", ".gitignore"]


def test_build_payload_refuses_bad_artifacts():
    for artifacts in ([], [("a", SHA_A), ("a", SHA_B)], [("a", "x" * 64)]):
        with pytest.raises(ValueError):
            modelsigning.build_payload("n", artifacts)


# --- issued with the certificate ---------------------------------------------------------------------


def test_bundle_is_issued_with_the_certificate_from_its_artifacts(framework, org, org_admin, staff):
    cert = certify(org, org_admin, staff, digests=(SHA_B, SHA_A))
    row = ModelSignature.objects.get(certificate=cert)
    verified = modelsigning.verify_bundle(bytes(row.bundle), published())
    assert verified.keyid == row.keyid == keys.load_model_signing_key()[1]
    # Recomputed from the certified artifacts: names as they sit in the model directory, sorted.
    certified = sorted((s.path, s.sha256) for s in cert.subjects.all())
    assert verified.resources == certified == [("model-00001.safetensors", SHA_B), ("model-00002.safetensors", SHA_A)]
    raw = b"".join(bytes.fromhex(digest) for _path, digest in certified)
    assert verified.subject_sha256 == row.subject_sha256 == hashlib.sha256(raw).hexdigest()
    assert verified.subject_name == cert.number
    assert verified.payload == modelsigning.build_payload(cert.number, certified)
    assert AuditEntry.objects.filter(action="certification.certificate.model_signature_issued").count() == 1


def test_a_release_certified_without_files_has_no_bundle(framework, org, org_admin, staff, client):
    cert = certify(org, org_admin, staff, digests=())
    assert not ModelSignature.objects.filter(certificate=cert).exists()
    assert client.get(f"/registry/{cert.number}.sig").status_code == 404
    assert client.get(f"/api/v1/certificates/{cert.number}/model-signature/").status_code == 404
    page = client.get(f"/registry/{cert.number}/").content.decode()
    assert "has no model-signing signature" in page and ".sig" not in page


def test_renewal_issues_a_new_bundle_and_revocation_keeps_the_old_one(framework, org, org_admin, staff, staff2):
    cert = backdate(certify(org, org_admin, staff), 200)
    first = stored(cert)
    app = certificate_services.start_renewal(cert, org_admin)
    applications.submit_application(app, org_admin, signer_name="Ada", signer_title="CTO", affirmed=[1, 2, 3, 4, 5, 6])
    applications.start_screening(app, staff)
    applications.accept_into_review(app, staff)
    applications.complete_review(app, staff)
    certificate_services.approve(app, staff)
    new = Certificate.objects.get(application=app)
    assert stored(new) != first and statement_of(stored(new))["subject"][0]["name"] == new.number
    assert stored(cert) == first  # superseded: kept as issued
    certificate_services.propose_revocation(new, staff, "Misrepresented benchmarks")
    certificate_services.confirm_revocation(new, staff2)
    new.refresh_from_db()
    assert new.status == "revoked" and modelsigning.verify_bundle(stored(new), published())


def test_backfill_signs_certificates_without_a_bundle_once(framework, org, org_admin, staff, capsys):
    cert = certify(org, org_admin, staff)
    no_files = certify(org, org_admin, staff, version="2.0", digests=())
    ModelSignature.objects.all().delete()
    call_command("sign_model_signatures", "--dry-run")
    assert f"would sign {cert.number}" in capsys.readouterr().out
    assert not ModelSignature.objects.exists()
    call_command("sign_model_signatures")
    out = capsys.readouterr().out
    assert f"signed {cert.number}" in out and no_files.number not in out and "1 certificate(s) certify no file" in out
    first = stored(cert)
    call_command("sign_model_signatures")
    assert "signed 0 model-signing bundle(s)" in capsys.readouterr().out
    assert stored(cert) == first


# --- downloads ---------------------------------------------------------------------------------------


def test_sig_download_and_api_serve_the_stored_bytes(framework, org, org_admin, staff, client):
    cert = certify(org, org_admin, staff)
    data = stored(cert)
    page = client.get(f"/registry/{cert.number}.sig")
    assert page.status_code == 200 and page.content == data
    assert page["Content-Disposition"] == f'attachment; filename="{cert.number}.sig"'
    api = client.get(f"/api/v1/certificates/{cert.number.lower()}/model-signature/")
    assert api.status_code == 200 and api.content == data and api["Content-Type"] == "application/json"
    assert client.get(f"/api/v1/certificates/{cert.number}/model-signature/",
                      HTTP_IF_NONE_MATCH=api["ETag"]).status_code == 304
    missing = client.get("/api/v1/certificates/RRC-2025-NONE/model-signature/")
    assert missing.status_code == 404 and "No certificate" in missing.json()["detail"]
    assert client.get("/registry/RRC-2025-NONE.sig").status_code == 404


def test_public_key_download_is_the_key_that_signed(framework, org, org_admin, staff, client):
    cert = certify(org, org_admin, staff)
    response = client.get(f"/registry/{cert.number}/alliance.pub")
    assert response.status_code == 200
    assert response.content == keys.public_key_pem(keys.load_model_signing_key()[0])
    assert response["Content-Disposition"] == 'attachment; filename="alliance.pub"'


def test_certificate_page_shows_the_two_commands_and_what_they_prove(framework, org, org_admin, staff, client,
                                                                      settings):
    settings.SITE_URL = "https://portal.example.org"
    cert = certify(org, org_admin, staff)
    page = client.get(f"/registry/{cert.number}/").content.decode()
    assert f'href="/registry/{cert.number}.sig"' in page
    assert (f"curl -o alliance.pub https://portal.example.org/registry/{cert.number}/alliance.pub \\\n"
            f"     -o {cert.number}.sig https://portal.example.org/registry/{cert.number}.sig") in page
    assert f"model_signing verify key --signature {cert.number}.sig --public_key alliance.pub ./model-dir" in page
    assert "--ignore_unsigned_files" in page
    assert "A success proves</strong> that the files in the directory are exactly the certified files" in page
    assert "It does not prove</strong> that the certificate still counts" in page


def test_the_command_keeps_certified_git_files(framework, org, org_admin, staff, client):
    cert = certify(org, org_admin, staff)
    assert "--no-ignore-git-paths" not in client.get(f"/registry/{cert.number}/").content.decode()
    cert = certify_files(org, org_admin, staff, {".gitattributes": b"*.bin filter=lfs\n", "model.bin": b"w"})
    page = client.get(f"/registry/{cert.number}/").content.decode()
    assert "--public_key alliance.pub --no-ignore-git-paths ./model-dir" in page
    ignored = statement_of(stored(cert))["predicate"]["serialization"]["ignore_paths"]
    assert ignored == [".git", ".gitignore", ".github"]


def test_keys_api_lists_the_model_signing_key_and_keeps_the_ed25519_entries(framework, client):
    body = client.get("/api/v1/keys/").json()
    assert [set(k) for k in body["keys"]] == [{"keyid", "algorithm", "public_key", "valid_from", "valid_until"}]
    assert body["keys"][0]["algorithm"] == "ed25519"
    [entry] = body["model_signing_keys"]
    key, keyid = keys.load_model_signing_key()
    assert entry == {"keyid": keyid, "algorithm": "ecdsa-p256-sha256",
                     "public_key_pem": keys.public_key_pem(key).decode(), "valid_from": "1970-01-01T00:00:00Z",
                     "valid_until": None}


def test_schema_documents_the_model_signature_endpoint(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    assert "/api/v1/certificates/{number}/model-signature/" in schema
    assert "certificates_model_signature" in schema and "model_signing_keys" in schema


# --- the verify page -----------------------------------------------------------------------------------


def upload(client, data: bytes):
    return client.post("/verify/", {"check": "signature", "signature": SimpleUploadedFile("x.sig", data)}
                       ).content.decode()


def test_verify_page_answers_with_the_certificate_and_its_status(framework, org, org_admin, staff, client):
    cert = certify(org, org_admin, staff)
    page = upload(client, stored(cert))
    assert "The signature is valid" in page and "for 1 file." in page
    assert f"{cert.number}</a> (issued with this signature)" in page and "A certificate that certifies" in page
    certificate_services.suspend(cert, staff, "Under investigation")
    page = upload(client, stored(cert))
    assert "The signature is valid" in page and "the best is suspended" in page


@pytest.mark.parametrize("what", ["payload", "signature", "resources"])
def test_verify_page_refuses_tampered_bundles(framework, org, org_admin, staff, client, what):
    cert = certify(org, org_admin, staff, digests=(SHA_A, SHA_B))
    page = upload(client, tampered(stored(cert), what))
    assert "The signature file does not verify" in page
    assert "changed after it was signed" in page and cert.number not in page.split('id="bundle-result"')[1]


def test_verify_page_refuses_another_portals_bundle_and_non_bundles(framework, client):
    other = ec.generate_private_key(ec.SECP256R1())
    bundle = modelsigning.sign_bundle(VECTOR["payload"].encode(), other)
    assert "not signed with a key this portal publishes" in upload(client, bundle)
    assert "is not a model-signing signature" in upload(client, b"{}")
    assert "is not a model-signing signature" in upload(client, b"[" * 5000)
    page = client.post("/verify/", {"check": "signature"}).content.decode()
    assert 'id="bundle-result"' not in page
    assert page.count("This field is required") == 1 and 'id="id_signature"' in page


def test_a_signed_bundle_no_certificate_certifies_is_not_relied_on(framework, client):
    # The portal's key, files no certificate lists (as a leaked key would sign).
    key = keys.load_model_signing_key()[0]
    page = upload(client, modelsigning.sign_bundle(VECTOR["payload"].encode(), key))
    assert "no certificate of this portal certifies exactly these files" in page


def test_the_envelope_upload_still_works_beside_it(framework, org, org_admin, staff, client):
    cert = certify(org, org_admin, staff)
    page = client.post("/verify/", {"envelope": SimpleUploadedFile("c.json", bytes(cert.attestation))})
    assert "The signature is valid" in page.content.decode() and 'id="bundle-result"' not in page.content.decode()


# --- the key: loading, checks, rotation ------------------------------------------------------------------


@pytest.fixture
def model_key_settings(settings, tmp_path, monkeypatch):
    for name in ("MODEL_SIGNING_KEY_FILE", "MODEL_SIGNING_KEY", "SIGNING_KEYS_DIR"):
        monkeypatch.delenv(name, raising=False)
        setattr(settings, name, "")
    settings.VAR_DIR = tmp_path / "var"
    settings.DEBUG = True
    return settings


def test_key_from_a_pem_file_the_environment_or_a_development_file(model_key_settings, monkeypatch, tmp_path):
    key_id = keys.load_model_signing_key()[1]
    path = model_key_settings.VAR_DIR / keys.MODEL_DEV_KEY_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and keys.load_model_signing_key()[1] == key_id
    monkeypatch.setenv("MODEL_SIGNING_KEY", VECTOR["private_key_scalar_base64"])
    assert keys.load_model_signing_key()[1] == VECTOR["keyid"]
    monkeypatch.setenv("MODEL_SIGNING_KEY", keys.private_key_pem(VECTOR_KEY).decode())
    assert keys.load_model_signing_key()[1] == VECTOR["keyid"]
    monkeypatch.delenv("MODEL_SIGNING_KEY")
    (tmp_path / "k.pem").write_bytes(keys.private_key_pem(VECTOR_KEY))
    model_key_settings.MODEL_SIGNING_KEY_FILE = str(tmp_path / "k.pem")
    assert keys.load_model_signing_key()[1] == VECTOR["keyid"]


@pytest.mark.parametrize("pem", [keys.private_key_pem(Ed25519PrivateKey.generate()),
                                 keys.private_key_pem(ec.generate_private_key(ec.SECP384R1()))],
                         ids=["ed25519", "p384"])
def test_a_key_that_is_not_p256_is_refused(model_key_settings, tmp_path, pem):
    (tmp_path / "k.pem").write_bytes(pem)
    model_key_settings.MODEL_SIGNING_KEY_FILE = str(tmp_path / "k.pem")
    with pytest.raises(ImproperlyConfigured, match="P-256"):
        keys.load_model_signing_key()


def test_production_checks_name_the_model_signing_key(model_key_settings, monkeypatch, tmp_path):
    model_key_settings.DEBUG = False
    [error] = check_signing_key()
    assert error.id == "certification.E004" and "MODEL_SIGNING_KEY_FILE" in error.msg
    assert "ec_paramgen_curve:P-256" in error.hint and not model_key_settings.VAR_DIR.exists()
    (tmp_path / "ed.pem").write_bytes(keys.private_key_pem(Ed25519PrivateKey.generate()))
    monkeypatch.setenv("MODEL_SIGNING_KEY_FILE", str(tmp_path / "ed.pem"))
    [error] = check_signing_key()
    assert error.id == "certification.E005" and "MODEL_SIGNING_KEY_FILE" in error.msg
    key_file = tmp_path / "p256.pem"
    key_file.write_bytes(keys.private_key_pem(VECTOR_KEY))
    monkeypatch.setenv("MODEL_SIGNING_KEY_FILE", str(key_file))
    monkeypatch.setenv("SIGNING_KEYS_DIR", str(tmp_path / "published"))
    assert check_signing_key() == []
    keys.rotate_model_key(tmp_path / "published" / keys.MODEL_KEYS_SUBDIR, key_file)
    for pem in (tmp_path / "published" / keys.MODEL_KEYS_SUBDIR).glob("*.pem"):
        pem.unlink()
    [error] = check_signing_key()
    assert error.id == "certification.E006" and "SIGNING_KEYS_DIR" in error.msg


def test_rotation_keeps_old_bundles_verifiable_and_matched(framework, org, org_admin, staff, model_key_settings,
                                                          tmp_path, client, capsys):
    model_key_settings.SIGNING_KEYS_DIR = str(tmp_path / "published")
    old = certify(org, org_admin, staff, version="1.0")
    call_command("rotate_signing_key", "--model-signing", "--dry-run")
    assert "would write a new model-signing key" in capsys.readouterr().out
    call_command("rotate_signing_key", "--model-signing")
    new_id = keys.load_model_signing_key()[1]
    assert new_id in capsys.readouterr().out
    new = certify(org, org_admin, staff, version="2.0", digests=(SHA_B,))
    by_cert = {c.pk: ModelSignature.objects.get(certificate=c).keyid for c in (old, new)}
    assert by_cert[new.pk] == new_id != by_cert[old.pk]
    published_keys = published()
    assert [k.keyid for k in published_keys] == [by_cert[old.pk], new_id]
    assert published_keys[0].valid_until == published_keys[1].valid_from
    for cert in (old, new):
        verified = modelsigning.verify_bundle(stored(cert), published_keys)
        assert [c.number for c in modelsigning.certificates_for(verified, published_keys)] == [cert.number]
    # The key that signed the old bundle is the one its page offers, not the current one.
    assert client.get(f"/registry/{old.number}/alliance.pub").content == published_keys[0].public_key_pem
    assert {k["keyid"] for k in client.get("/api/v1/keys/").json()["model_signing_keys"]} == set(by_cert.values())
    # The Ed25519 keys directory is untouched but for the subdirectory.
    assert {p.name for p in (tmp_path / "published").iterdir()} == {keys.MODEL_KEYS_SUBDIR}


def test_a_key_from_the_environment_cannot_be_rotated(model_key_settings, monkeypatch, tmp_path):
    monkeypatch.setenv("MODEL_SIGNING_KEY", VECTOR["private_key_scalar_base64"])
    with pytest.raises(ImproperlyConfigured, match="MODEL_SIGNING_KEY"):
        keys.rotate_model_key(tmp_path / "keys")


# --- interop with the real tool (slow) -------------------------------------------------------------------

MODEL_FILES = {
    "config.json": b'{"architectures": ["AcmeForCausalLM"], "hidden_size": 64}\n',
    "model-00001-of-00002.safetensors": bytes(range(256)) * 64,
    "model-00002-of-00002.safetensors": b"\x00\x01" * 5000,
    "tokenizer/tokenizer.json": b'{"version": "1.0", "model": {"type": "BPE"}}\n',
}


def model_dir(root: Path) -> Path:
    for name, data in MODEL_FILES.items():
        path = root / "model" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root / "model"


def tool_verify(signature: Path, public_key: Path, directory: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(MODEL_SIGNING), "verify", "key", "--signature", str(signature), "--public_key",
                           str(public_key), *extra, str(directory)], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=120, check=False,
                          env={"PATH": os.environ["PATH"], "HOME": str(signature.parent)})


def download(url: str, path: Path) -> Path:
    with urllib.request.urlopen(url, timeout=30) as response:
        path.write_bytes(response.read())
    return path


@pytest.fixture
def certified_model(framework, org, org_admin, staff, live_server, tmp_path):
    """A small model directory, a release certified with exactly its files, and the bundle and the key
    downloaded over HTTP from the live server."""
    directory = model_dir(tmp_path)
    cert = certify_files(org, org_admin, staff, MODEL_FILES)
    signature = download(f"{live_server.url}/registry/{cert.number}.sig", tmp_path / f"{cert.number}.sig")
    api_copy = download(f"{live_server.url}/api/v1/certificates/{cert.number}/model-signature/", tmp_path / "api.sig")
    assert api_copy.read_bytes() == signature.read_bytes()
    public_key = download(f"{live_server.url}/registry/{cert.number}/alliance.pub", tmp_path / "alliance.pub")
    keys_json = json.loads(urllib.request.urlopen(f"{live_server.url}/api/v1/keys/", timeout=30).read())
    assert public_key.read_text() in {k["public_key_pem"] for k in keys_json["model_signing_keys"]}
    return cert, directory, signature, public_key


needs_tool = pytest.mark.skipif(not MODEL_SIGNING.exists(), reason="model-signing is in requirements-dev.txt")


@pytest.mark.slow
@needs_tool
def test_the_tool_verifies_the_certified_files_and_nothing_else(certified_model, tmp_path):
    _cert, directory, signature, public_key = certified_model
    done = tool_verify(signature, public_key, directory)
    assert done.returncode == 0 and "Verification succeeded" in done.stdout, done.stdout

    # A file outside the certified list: refused, unless the user says it is not part of the model.
    (directory / "README.md").write_text("# Acme\n")
    done = tool_verify(signature, public_key, directory)
    assert done.returncode != 0 and "README.md" in done.stdout
    assert tool_verify(signature, public_key, directory, "--ignore_unsigned_files").returncode == 0
    (directory / "README.md").unlink()

    # One byte of one file changes.
    shard = directory / "model-00002-of-00002.safetensors"
    original = shard.read_bytes()
    shard.write_bytes(original[:100] + bytes([original[100] ^ 1]) + original[101:])
    done = tool_verify(signature, public_key, directory)
    assert done.returncode != 0 and "Hash mismatch for 'model-00002-of-00002.safetensors'" in done.stdout
    shard.write_bytes(original)
    assert tool_verify(signature, public_key, directory).returncode == 0

    # A certified file is missing.
    (directory / "tokenizer" / "tokenizer.json").unlink()
    done = tool_verify(signature, public_key, directory)
    assert done.returncode != 0 and "Missing files" in done.stdout and "tokenizer/tokenizer.json" in done.stdout
    assert tool_verify(signature, public_key, directory, "--ignore_unsigned_files").returncode != 0


@pytest.mark.slow
@needs_tool
def test_the_tool_refuses_another_portals_key_and_tampered_bundles(certified_model, tmp_path):
    _cert, directory, signature, public_key = certified_model
    other = tmp_path / "other-portal.pub"
    other.write_bytes(keys.public_key_pem(ec.generate_private_key(ec.SECP256R1())))
    done = tool_verify(signature, other, directory)
    assert done.returncode != 0 and "Key mismatch" in done.stdout
    for what in ("payload", "signature", "resources"):
        bad = tmp_path / f"{what}.sig"
        bad.write_bytes(tampered(signature.read_bytes(), what))
        if what == "resources":
            (directory / "tokenizer" / "tokenizer.json").unlink(missing_ok=True)  # as the forged list says
        done = tool_verify(bad, public_key, directory)
        assert done.returncode != 0 and "Verification failed" in done.stdout, f"{what}: {done.stdout}"
        assert "mismatch" not in done.stdout  # refused for its signature, before any file is compared


@pytest.mark.slow
@needs_tool
def test_the_tool_verifies_the_fixed_vector(tmp_path):
    for name, text in VECTOR["files"].items():
        (tmp_path / "model" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "model" / name).write_text(text)
    (tmp_path / "v.sig").write_text(VECTOR["bundle"])
    (tmp_path / "v.pub").write_text(VECTOR["public_key_pem"])
    done = tool_verify(tmp_path / "v.sig", tmp_path / "v.pub", tmp_path / "model")
    assert done.returncode == 0, done.stdout


@pytest.mark.slow
@needs_tool
def test_the_tool_verifies_a_certified_gitattributes_it_would_otherwise_skip(tmp_path):
    # A Hub repository's .gitattributes is often listed as an artifact: the bundle must not tell the
    # tool to ignore it, and the command the certificate page shows adds --no-ignore-git-paths (the
    # tool's own default skips git files whatever the bundle says).
    files = {".gitattributes": b"*.safetensors filter=lfs\n", "model.safetensors": b"weights"}
    for name, data in files.items():
        (tmp_path / "model").mkdir(exist_ok=True)
        (tmp_path / "model" / name).write_bytes(data)
    key = ec.generate_private_key(ec.SECP256R1())
    payload = modelsigning.build_payload("RRC-TEST", [(n, hashlib.sha256(d).hexdigest()) for n, d in files.items()])
    (tmp_path / "m.sig").write_bytes(modelsigning.sign_bundle(payload, key))
    (tmp_path / "m.pub").write_bytes(keys.public_key_pem(key))
    done = tool_verify(tmp_path / "m.sig", tmp_path / "m.pub", tmp_path / "model")
    assert done.returncode != 0 and "Missing files" in done.stdout and ".gitattributes" in done.stdout
    done = tool_verify(tmp_path / "m.sig", tmp_path / "m.pub", tmp_path / "model", "--no-ignore-git-paths")
    assert done.returncode == 0, done.stdout
