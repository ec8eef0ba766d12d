"""Offline verification: ``manage.py verify_attestation`` and the standalone
snippet of the README, run exactly as written there."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from certification.certificates import services
from certification.releases import applications
from tests import factories as f
from tests.certification.certificate_helpers import certify

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path, monkeypatch):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    monkeypatch.setattr(applications, "GATE_PROVIDERS", [])
    monkeypatch.setattr(applications, "REVIEW_STARTED_HOOKS", [])


@pytest.fixture
def published(framework, org, org_admin, staff, client, tmp_path):
    """A certificate over two real files, and what a verifier downloads: the
    envelope, the keys and the revocation list."""
    import hashlib

    model_dir = tmp_path / "model"
    model_dir.mkdir()
    contents = {"model-00001.safetensors": b"weights one", "model-00002.safetensors": b"weights two"}
    for name, data in contents.items():
        (model_dir / name).write_bytes(data)
    digests = tuple(hashlib.sha256(data).hexdigest() for data in contents.values())
    cert = certify(org, org_admin, staff, digests=digests)
    files = {
        "envelope": tmp_path / "cert.json",
        "keys": tmp_path / "keys.json",
        "revocations": tmp_path / "revocations.json",
    }
    files["envelope"].write_bytes(client.get(f"/registry/{cert.number}/attestation.json").content)
    files["keys"].write_bytes(client.get("/api/v1/keys/").content)
    files["revocations"].write_bytes(client.get("/api/v1/revocations/").content)
    return cert, files, model_dir


def run_command(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command("verify_attestation", *[str(a) for a in args], stdout=out)
    return out.getvalue()


def test_command_verifies_signature_revocations_and_model_dir(published):
    cert, files, model_dir = published
    out = run_command(files["envelope"], "--keys", files["keys"], "--revocations", files["revocations"],
                      "--model-dir", model_dir)
    assert f"certificate {cert.number} verifies" in out
    assert "model-00002.safetensors: sha256 matches" in out


def test_command_fails_for_a_changed_model_file(published):
    _cert, files, model_dir = published
    (model_dir / "model-00001.safetensors").write_bytes(b"tampered")
    with pytest.raises(CommandError, match="does NOT verify"):
        run_command(files["envelope"], "--keys", files["keys"], "--model-dir", model_dir)


def test_command_fails_for_a_revoked_certificate(published, staff, client):
    cert, files, _model_dir = published
    services.propose_revocation(cert, staff, "Fraud")
    services.confirm_revocation(cert, f.make_staff())
    files["revocations"].write_bytes(client.get("/api/v1/revocations/").content)
    with pytest.raises(CommandError):
        run_command(files["envelope"], "--keys", files["keys"], "--revocations", files["revocations"])


def test_command_fails_for_a_tampered_envelope_or_unknown_key(published, tmp_path):
    _cert, files, _model_dir = published
    envelope = json.loads(files["envelope"].read_bytes())
    envelope["signatures"][0]["sig"] = envelope["signatures"][0]["sig"][::-1]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(envelope))
    with pytest.raises(CommandError):
        run_command(bad, "--keys", files["keys"])
    (tmp_path / "nokeys.json").write_text('{"keys": []}')
    with pytest.raises(CommandError):
        run_command(files["envelope"], "--keys", tmp_path / "nokeys.json")


def test_command_uses_the_portal_keys_by_default(published):
    cert, files, _model_dir = published
    assert f"certificate {cert.number} verifies" in run_command(files["envelope"])


def readme_snippet() -> str:
    text = README.read_text("utf-8")
    section = text.split("## Verifying certificates (for integrators)", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the section has one Python snippet"
    return blocks[0]


def run_snippet(tmp_path, *args) -> subprocess.CompletedProcess:
    script = tmp_path / "verify.py"
    script.write_text(readme_snippet())
    return subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True,
                          timeout=60)


def test_readme_snippet_verifies_as_written(published, tmp_path):
    cert, files, model_dir = published
    result = run_snippet(tmp_path, files["envelope"], files["keys"], files["revocations"], model_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert cert.number in result.stdout


def test_readme_snippet_refuses_changed_files_revocations_and_bad_signatures(published, tmp_path, staff, client):
    cert, files, model_dir = published
    (model_dir / "model-00002.safetensors").write_bytes(b"changed")
    result = run_snippet(tmp_path, files["envelope"], files["keys"], files["revocations"], model_dir)
    assert result.returncode == 1 and "model-00002.safetensors: sha256 differs" in result.stdout

    services.suspend(cert, staff, "Investigating")
    files["revocations"].write_bytes(client.get("/api/v1/revocations/").content)
    result = run_snippet(tmp_path, files["envelope"], files["keys"], files["revocations"])
    assert result.returncode == 1 and "suspended since" in result.stdout

    envelope = json.loads(files["envelope"].read_bytes())
    envelope["payload"] = envelope["payload"][:-8] + "AAAAAA=="
    files["envelope"].write_text(json.dumps(envelope))
    result = run_snippet(tmp_path, files["envelope"], files["keys"])
    assert result.returncode != 0 and "InvalidSignature" in result.stderr


def test_readme_snippet_uses_only_cryptography_and_the_standard_library():
    import ast

    modules = set()
    for node in ast.walk(ast.parse(readme_snippet())):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            modules.add(node.module.split(".")[0])
    assert modules - set(sys.stdlib_module_names) == {"cryptography"}
