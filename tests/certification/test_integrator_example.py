"""The README's integrator example ("Automating certification"), run as written against a live
portal so it cannot rot: the Python block between the ``integrator-example`` markers is extracted
and run in a child process with two tokens (``read``+``write``, and ``attest``), while this test
plays the vulnerability contact who opens the emailed link."""

from __future__ import annotations

import hashlib
import http.cookiejar
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from certification.releases.models import Application, ContactConfirmation, Release
from portal import accounts
from portal.models import AuditEntry, OutboxEmail
from tests.certification.test_modelcard import CARD

README = Path(django_settings.BASE_DIR) / "README.md"
BLOCK = re.compile(r"<!-- integrator-example:start -->\s*```python\n(.*?)```\s*<!-- integrator-example:end -->", re.S)
CONTACT = "security@acme.example"


def readme_example() -> str:
    match = BLOCK.search(README.read_text())
    assert match, "README.md has no integrator example between the integrator-example markers"
    return match.group(1)


def release_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "release"
    folder.mkdir()
    weights = b"weights" * 100
    (folder / "manifest.json").write_text(json.dumps({"artifacts": [
        {"path": "model.safetensors", "size": len(weights), "sha256": hashlib.sha256(weights).hexdigest()}]}))
    (folder / "README.md").write_text(CARD)
    (folder / "red-teaming.md").write_text("# Red teaming\n\nMethods and findings.\n")
    (folder / "bias-report.md").write_text("# Bias evaluation\n\nBBQ and CrowS-Pairs.\n")
    return folder


def confirm_as_the_contact(base_url: str, body_text: str) -> None:
    """Open the emailed link and press its button, as the contact's browser does (CSRF cookie included)."""
    path = urllib.parse.urlsplit(re.search(r"https?://\S+/contact/confirm/\S+?/", body_text)[0]).path
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    page = opener.open(base_url + path, timeout=30).read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
    data = urllib.parse.urlencode({"csrfmiddlewaretoken": csrf}).encode()
    done = opener.open(urllib.request.Request(base_url + path, data=data, headers={"Referer": base_url + path}),
                       timeout=30).read().decode()
    assert "is confirmed" in done


def test_readme_example_files_a_tier2_attestation(live_server, framework, org, org_admin, tmp_path, settings):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    script = tmp_path / "file_release.py"
    script.write_text(readme_example())
    _token, write_token = accounts.create_api_token(org_admin, "CI", scopes=["read", "write"])
    # Made by the tokens page after a fresh authentication; here through the same service.
    _token, attest_token = accounts.create_api_token(org_admin, "filing", scopes=["attest"],
                                                     fresh_authentication=True)
    env = {
        "PATH": os.environ.get("PATH", ""), "PORTAL_URL": live_server.url, "PORTAL_TOKEN": write_token,
        "PORTAL_ATTEST_TOKEN": attest_token, "PORTAL_ORG": org.slug, "SECURITY_CONTACT": CONTACT,
        "RELEASE_DIR": str(release_dir(tmp_path)), "POLL_SECONDS": "0.2",
    }
    child = subprocess.Popen([sys.executable, str(script)], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        # The contact: waits for the email, then opens the link (the server writes; this thread only reads).
        deadline = time.monotonic() + 120
        confirmed = False
        while child.poll() is None and time.monotonic() < deadline:
            mail = OutboxEmail.objects.filter(to=CONTACT).first()
            if mail is not None and not confirmed:
                confirm_as_the_contact(live_server.url, mail.body_text)
                confirmed = True
            time.sleep(0.2)
        out, err = child.communicate(timeout=max(1, deadline - time.monotonic()))
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, f"stdout:\n{out}\nstderr:\n{err}"

    release = Release.objects.get(ai_model__organization=org, ai_model__slug="acme-7b", version="1.0")
    assert "Tier 2" in out
    assert release.artifacts.count() == 1
    assert release.benchmark_results.count() == 3  # from the model card's model-index
    assert set(release.evidence_files.values_list("section", flat=True)) == {"red_teaming_report", "bias_report"}
    assert ContactConfirmation.objects.filter(release=release, email=CONTACT, confirmed_at__isnull=False).exists()
    app = Application.objects.get(release=release)
    assert app.status == Application.Status.SUBMITTED and app.tier == 2
    assert f"Application {app.pk}: submitted" in out
    assert AuditEntry.objects.filter(action="certification.documentation.modelcard_imported",
                                     object_id=str(release.pk)).exists()


def test_the_example_stops_with_the_portals_message_on_a_refusal(live_server, framework, org, org_admin, tmp_path):
    """A token without the write scope: the first POST is refused and the script says why."""
    script = tmp_path / "file_release.py"
    script.write_text(readme_example())
    _token, read_token = accounts.create_api_token(org_admin, "read only", scopes=["read"])
    env = {"PATH": os.environ.get("PATH", ""), "PORTAL_URL": live_server.url, "PORTAL_TOKEN": read_token,
           "PORTAL_ATTEST_TOKEN": read_token, "PORTAL_ORG": org.slug, "SECURITY_CONTACT": CONTACT,
           "RELEASE_DIR": str(release_dir(tmp_path))}
    result = subprocess.run([sys.executable, str(script)], env=env, cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode != 0
    assert "POST /api/v1/models/ refused (403)" in result.stderr and "write" in result.stderr
    assert not Release.objects.exists()


@pytest.mark.parametrize("needle", ["/model-card/import/", "/contact-confirmation/", "/evidence/", "/apply/",
                                    "/submit/", "PORTAL_ATTEST_TOKEN", "manifest.json"])
def test_the_example_covers_every_step_the_issue_names(needle):
    assert needle in readme_example()
