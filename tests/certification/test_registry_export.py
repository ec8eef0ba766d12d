"""The static signed registry export (issue 15 §3): ``manage.py export_registry``, its incremental
runs, the debounced task, and the offline verifier against an export served by ``http.server``."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import socket
import subprocess
import sys
import time
import urllib.request
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from certification.certificates import export, keys, offline, services, tasks
from certification.certificates.models import ModelSignature
from certification.releases import applications
from tests import factories as f
from tests.certification.certificate_helpers import certify

WEIGHTS = {"model-00001.safetensors": b"weights one"}
SHA_ONE = hashlib.sha256(b"weights one").hexdigest()
SHA_TWO = "c" * 64


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path, monkeypatch):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    settings.REGISTRY_EXPORT_DIR = ""
    monkeypatch.setattr(applications, "GATE_PROVIDERS", [])
    monkeypatch.setattr(applications, "REVIEW_STARTED_HOOKS", [])


@pytest.fixture
def certs(framework, org, org_admin, staff):
    first = certify(org, org_admin, staff, version="1.0", digests=(SHA_ONE,), hub_repo_id="Acme/Acme-7B")
    second = certify(org, org_admin, staff, version="2.0", digests=(SHA_TWO,))
    return first, second


def files_of(version_dir: Path) -> dict[str, Path]:
    return {p.relative_to(version_dir).as_posix(): p for p in version_dir.rglob("*") if p.is_file()}


def current(root: Path) -> Path:
    return root / "versions" / json.loads((root / "current.json").read_bytes())["version"]


def test_export_writes_the_public_records_indexes_keys_and_signed_lists(certs, tmp_path, client):
    first, second = certs
    result = export.export(tmp_path / "out")
    version = current(tmp_path / "out")
    assert version == result.path and result.certificates == 2
    files = files_of(version)

    record = json.loads(files[export.certificate_path(first.number)].read_bytes())
    api = client.get(f"/api/v1/certificates/{first.number}/").json()
    assert record == {**api, "model_signature": f"{first.number}.sig"}
    sig = files[export.certificate_path(first.number, ".sig")]
    assert sig.read_bytes() == bytes(ModelSignature.objects.get(certificate=first).bundle)

    verify = client.get("/api/v1/verify/", {"sha256": SHA_ONE}).json()
    index = json.loads(files[export.sha256_path(SHA_ONE)].read_bytes())
    assert (index["verified"], index["status"]) == (verify["verified"], verify["status"]) == (True, "valid")
    assert [c["number"] for c in index["certificates"]] == [first.number]
    assert index["certificates"][0]["file"] == export.certificate_path(first.number)
    by_model = json.loads(files[export.model_path("acme/acme-7b")].read_bytes())
    assert [c["number"] for c in by_model["certificates"]] == sorted([first.number, second.number])
    assert json.loads(files["keys.json"].read_bytes()) == client.get("/api/v1/keys/").json()

    key_list = keys.verification_keys()
    revocations = offline.verify_revocation_list(files["revocations.json"].read_bytes(), key_list)
    issued = dt.datetime.fromisoformat(revocations["issued_at"].replace("Z", "+00:00"))
    next_update = dt.datetime.fromisoformat(revocations["next_update"].replace("Z", "+00:00"))
    assert next_update - issued == dt.timedelta(hours=1)

    # The signed manifest covers every file of the version, through the shard lists.
    manifest = offline.verify_signed(files["manifest.json"].read_bytes(), key_list, timezone.now(),
                                     export.MANIFEST_PAYLOAD_TYPE, export.MANIFEST_TYPE, "a manifest")
    listed = dict(manifest["files"])
    for path in [p for p in manifest["files"] if p.startswith("manifest/")]:
        listed.update(json.loads(files[path].read_bytes())["files"])
    assert set(listed) == set(files) - {"manifest.json"}
    assert all(hashlib.sha256(files[p].read_bytes()).hexdigest() == sha for p, sha in listed.items())
    assert all(len(list(d.iterdir())) <= 2 for d in (version / "certificates").iterdir())


def test_a_run_after_one_revocation_rewrites_only_the_affected_files(certs, tmp_path, staff):
    first, second = certs
    root = tmp_path / "out"
    before = export.export(root)
    again = export.export(root)
    # Nothing changed: only the re-signed revocation list (a new issued_at) and the manifest.
    assert again.written == 2 and again.linked == len(before.files) - 1

    services.propose_revocation(first, staff, "Fraud")
    services.confirm_revocation(first, f.make_staff())
    after = export.export(root)
    old, new = files_of(again.path), files_of(after.path)
    rewritten = {p for p, file in new.items() if p not in old or file.stat().st_ino != old[p].stat().st_ino}
    cert_path = export.certificate_path(first.number)
    assert rewritten == {
        cert_path, export.sha256_path(SHA_ONE), export.model_path("acme/acme-7b"), "revocations.json",
        export.shard_list_path(cert_path), export.shard_list_path(export.sha256_path(SHA_ONE)),
        export.shard_list_path(export.model_path("acme/acme-7b")), "manifest.json",
    }
    assert after.written == len(rewritten)
    assert json.loads(new[cert_path].read_bytes())["status"] == "revoked"
    # The unchanged certificate and the revoked one's bundle are hard links to the previous files.
    assert new[export.certificate_path(second.number)].stat().st_nlink >= 2
    assert export.certificate_path(first.number, ".sig") not in rewritten


def test_versions_are_published_by_the_pointer_and_pruned(certs, tmp_path):
    root = tmp_path / "out"
    (root / "versions" / "00000000T000000000Z-broken").mkdir(parents=True)  # an interrupted run
    results = [export.export(root, keep=2) for _ in range(4)]
    assert sorted(p.name for p in (root / "versions").iterdir()) == [r.version for r in results[-2:]]
    assert current(root) == results[-1].path
    with pytest.raises(CommandError, match="not a directory"):
        call_command("export_registry", str(root / "current.json"))
    with pytest.raises(CommandError, match="give DIR"):
        call_command("export_registry")


def test_the_task_is_a_debounced_no_op_without_a_directory(certs, settings, tmp_path, monkeypatch, staff,
                                                          django_capture_on_commit_callbacks):
    first, _second = certs
    assert tasks.refresh_registry_export() is None
    queued = []
    monkeypatch.setattr(tasks.refresh_registry_export, "apply_async", lambda **kw: queued.append(kw))
    tasks.schedule_refresh()
    assert queued == []

    settings.REGISTRY_EXPORT_DIR = str(tmp_path / "out")
    with django_capture_on_commit_callbacks(execute=True):
        services.suspend(first, staff, "Investigating")
    with django_capture_on_commit_callbacks(execute=True):
        services.reinstate(first, staff, "Cleared")
    assert queued == [{"countdown": settings.REGISTRY_EXPORT_DEBOUNCE_SECONDS}]  # one run for both changes
    assert tasks.refresh_registry_export()["written"] > 0
    assert current(tmp_path / "out").is_dir()


# --- the verifier, against an export served by a static web server ------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "out"
    root.mkdir()
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                             "--directory", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 15
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.05)
    yield root, url
    proc.terminate()
    proc.wait(timeout=10)


def verify(*args) -> str:
    out = StringIO()
    call_command("verify_attestation", *[str(a) for a in args], stdout=out)
    return out.getvalue()


def test_verifier_uses_only_the_served_export(certs, served, tmp_path, staff):
    first, _second = certs
    root, url = served
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    for name, data in WEIGHTS.items():
        (model_dir / name).write_bytes(data)
    export.export(root)
    out = verify(first.number, "--export", url, "--model-dir", model_dir)
    assert f"certificate {first.number} verifies" in out and "model-00001.safetensors: sha256 matches" in out
    assert f"certificate {first.number} verifies" in verify(first.number.lower(), "--export", root)

    with pytest.raises(CommandError, match="does NOT verify"):
        verify("RRC-2025-NOTTHERE", "--export", url)

    services.suspend(first, staff, "Investigating")
    export.export(root)
    out = StringIO()
    with pytest.raises(CommandError, match="does NOT verify"):
        call_command("verify_attestation", first.number, "--export", url, stdout=out)
    assert "suspended according to the revocation list" in out.getvalue()


def test_verifier_cannot_confirm_with_a_stale_list_and_refuses_tampered_files(certs, served):
    first, second = certs
    root, url = served
    result = export.export(root, now=timezone.now() - dt.timedelta(hours=2))
    report = offline.verify_from_export(offline.ExportSource(url), first.number)
    assert not report.ok and any("cannot confirm" in p for p in report.problems), report.problems

    result = export.export(root)
    assert offline.verify_from_export(offline.ExportSource(url), first.number).ok
    path = result.path / export.certificate_path(second.number)
    record = json.loads(path.read_bytes())
    record["status"] = "valid"
    record["expires_at"] = "2099-01-01T00:00:00Z"
    path.unlink()  # a hard link: replace the file, not the previous version's bytes
    path.write_text(json.dumps(record))
    report = offline.verify_from_export(offline.ExportSource(url), second.number)
    assert report.problems == [f"export: {export.certificate_path(second.number)}: its sha256 differs from the "
                               "signed manifest's"]

    (tmp_path_keys := result.path.parent / "other-keys.json").write_text('{"keys": []}')
    with pytest.raises(CommandError):
        verify(first.number, "--export", url, "--keys", tmp_path_keys)
    with pytest.raises(CommandError, match="neither an http"):
        verify(first.number, "--export", root / "missing")
