"""Private files in object storage (issue 15 §1): the same upload, download, deletion and fault tests
on both backends of the ``private`` storage, the local folder (STORAGE_URL unset) and an S3 bucket
served by moto's standalone server on loopback (a real S3 API over HTTP, started once per session).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ConnectionClosedError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from auditors.models import AuditReport
from certification.releases import evidence
from certification.releases.models import EvidenceFile
from certification.review import findings as review_findings
from certification.review.models import Finding, FindingAttachment
from portal import audit, checks
from portal import storage as private_files
from portal.settings import private_storage_setting
from tests.auditors.helpers import engage, in_review_application, make_accredited_auditor, pdf
from tests.certification.factories import make_release
from tests.certification.review_helpers import draft, enrolled, in_review
from tests.portal.test_production_checks import prod  # noqa: F401 - the fixture

BASE_DIR = Path(__file__).resolve().parents[2]
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "portal-test", "AWS_SECRET_ACCESS_KEY": "portal-test-secret",
               "AWS_DEFAULT_REGION": "us-east-1"}
STORED_MESSAGE = "could not be stored, try again"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint():
    """moto's S3 API on a free loopback port, for the whole session (started on first use)."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


class Backend:
    """One backend of the private storage, and how to look inside it behind the portal's back."""

    def __init__(self, kind: str, root: Path, bucket: str = "", prefix: str = "", client=None):
        self.kind, self.root, self.bucket, self.prefix, self.client = kind, root, bucket, prefix, client

    def names(self, folder: str = "") -> list[str]:
        """Every stored file (of one folder), as ``folder/stored_name``."""
        if self.kind == "local":
            names = [str(p.relative_to(self.root)) for p in self.root.rglob("*") if p.is_file()]
        else:
            listing = self.client.list_objects_v2(Bucket=self.bucket)
            names = [o["Key"].removeprefix(self.prefix + "/") for o in listing.get("Contents", [])]
        return sorted(n for n in names if n.startswith(folder))

    def read(self, name: str) -> bytes:
        if self.kind == "local":
            return (self.root / name).read_bytes()
        return self.client.get_object(Bucket=self.bucket, Key=f"{self.prefix}/{name}")["Body"].read()

    def remove(self, name: str) -> None:
        if self.kind == "local":
            (self.root / name).unlink()
        else:
            self.client.delete_object(Bucket=self.bucket, Key=f"{self.prefix}/{name}")


@pytest.fixture(params=["local", "s3"])
def backend(request, settings, tmp_path, monkeypatch) -> Backend:
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    settings.EVIDENCE_MAX_BYTES = 4 * evidence.CHUNK
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)  # the spool files, to check none is left behind
    if request.param == "local":
        settings.STORAGES = {**settings.STORAGES, "private": private_storage_setting("")}
        return Backend("local", settings.PRIVATE_STORAGE_ROOT)
    endpoint = request.getfixturevalue("s3_endpoint")
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    bucket = f"portal-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket=bucket)
    storage = private_storage_setting(f"s3://{bucket}/files", endpoint)
    # No retries: a refused put is seen at once (the portal's answer is the same after the retries).
    storage["OPTIONS"]["client_config"] = Config(retries={"total_max_attempts": 1})
    settings.STORAGES = {**settings.STORAGES, "private": storage}
    assert not settings.PRIVATE_STORAGE_ROOT.exists()
    return Backend("s3", settings.PRIVATE_STORAGE_ROOT, bucket, "files", client)


@pytest.fixture
def release(framework, org, org_admin):
    return make_release(org, org_admin, fill=False)


def upload(client: Client, release, name: str, content: bytes):
    return client.post(f"/api/v1/releases/{release.pk}/evidence/",
                       data={"file": SimpleUploadedFile(name, content)}, format="multipart")


def spool_files(settings) -> list[str]:
    return sorted(p.name for p in Path(settings.FILE_UPLOAD_TEMP_DIR).glob("upload-*"))


# --- evidence --------------------------------------------------------------------------------------


def test_evidence_is_stored_with_its_sha256_and_downloaded_by_the_allowed_personas_only(
        backend, release, client, org_admin, staff, other_member, settings):
    content = b"benchmark,score\n" + b"run,0.5\n" * (2 * evidence.CHUNK // 8)  # several chunks
    client.force_login(org_admin)
    response = upload(client, release, "results.csv", content)
    assert response.status_code == 201, response.content
    ev = EvidenceFile.objects.get(pk=response.json()["id"])
    assert ev.sha256 == hashlib.sha256(content).hexdigest() and ev.size == len(content)
    assert backend.names() == [f"evidence/{ev.stored_name}"]
    assert backend.read(f"evidence/{ev.stored_name}") == content
    assert spool_files(settings) == []

    url = reverse("certification:evidence-download", args=[ev.pk])
    for persona in (org_admin, staff):
        client.force_login(persona)
        response = client.get(url)
        assert response.status_code == 200
        assert response["Cache-Control"] == "private, no-store" and response["X-Content-Type-Options"] == "nosniff"
        assert response["Content-Disposition"].startswith("attachment") and "results.csv" in response[
            "Content-Disposition"]
        assert b"".join(response.streaming_content) == content
    client.force_login(other_member)
    assert client.get(url).status_code == 404
    client.logout()
    assert client.get(url).status_code == 302  # to the login page, never to the store

    backend.remove(f"evidence/{ev.stored_name}")  # lost behind the portal's back: 404, not 500
    client.force_login(org_admin)
    assert client.get(url).status_code == 404


@pytest.mark.parametrize(("name", "content", "problem"), [
    ("big.txt", b"x" * (4 * 64 * 1024 + 1), "larger than the limit"),
    ("fake.pdf", b"not a pdf at all", "not a PDF"),
    ("data.json", b'{"a": ', "not valid JSON"),
    ("empty.txt", b"", "empty"),
])
def test_a_refused_upload_stores_nothing(backend, release, client, org_admin, settings, name, content, problem):
    client.force_login(org_admin)
    response = upload(client, release, name, content)
    assert response.status_code == 400
    assert problem in response.json()["file"][0]
    assert not EvidenceFile.objects.exists()
    assert backend.names() == [] and spool_files(settings) == []


def test_the_size_limit_stops_the_stream(backend, release, org_admin, settings):
    """The limit is counted while the file streams: the rest is never read, nothing reaches the store."""
    read = []

    class Endless(ContentFile):
        def chunks(self, chunk_size=None):
            while True:
                read.append(chunk_size)
                yield b"y" * chunk_size

    with pytest.raises(evidence.EvidenceError, match="larger than the limit"):
        evidence.store(release, Endless(b"", name="endless.txt"), org_admin)
    assert len(read) == 5  # four chunks fit, the fifth passes the limit
    assert backend.names() == [] and spool_files(settings) == []


def test_deleting_evidence_of_a_draft_release_removes_the_file(backend, release, client, org_admin,
                                                               django_capture_on_commit_callbacks):
    ev = evidence.store(release, ContentFile(PDF, name="report.pdf"), org_admin)
    assert backend.names() == [f"evidence/{ev.stored_name}"]
    client.force_login(org_admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("certification:evidence-delete", args=[ev.pk]))
    assert response.status_code == 302
    assert not EvidenceFile.objects.exists() and backend.names() == []


# --- the store failing -----------------------------------------------------------------------------


@pytest.fixture
def failing_store(backend, monkeypatch):
    """The store fails half-way through writing the file: a disk filling up during the copy (local),
    the connection cut while the put's body is being sent (S3). Returns the attempts made."""
    attempts = []
    if backend.kind == "local":
        from django.core.files.storage import filesystem

        def move_half(old, new, *args, **kwargs):
            attempts.append(new)
            data = Path(old).read_bytes()
            Path(new).write_bytes(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(filesystem, "file_move_safe", move_half)
        yield attempts
        return
    s3 = private_files.private_storage().connection.meta.client

    def cut(request, **kwargs):
        attempts.append(request.url)
        if hasattr(request.body, "read"):
            request.body.read(100)  # part of the body is on its way...
        raise ConnectionClosedError(endpoint_url=request.url)  # ...when the connection drops

    s3.meta.events.register("before-send.s3.PutObject", cut)
    yield attempts
    s3.meta.events.unregister("before-send.s3.PutObject", cut)


def test_a_store_failing_mid_upload_leaves_no_row_and_no_file(backend, failing_store, release, client, org_admin,
                                                              settings, caplog):
    client.force_login(org_admin)
    response = upload(client, release, "results.txt", b"benchmark log line\n" * 10_000)
    assert failing_store, "the upload never reached the store"
    assert response.status_code == 503 and response["Retry-After"]
    assert STORED_MESSAGE in response.json()["file"][0]
    assert not EvidenceFile.objects.exists()
    assert backend.names() == [] and spool_files(settings) == []
    assert "evidence file could not be stored" in caplog.text


def test_a_finding_attachment_the_store_refuses_is_a_clear_error(backend, request, framework, org, org_admin, staff):
    window = in_review(org, org_admin, staff).review_window
    author = enrolled(window)
    finding = draft(window, author)
    assert request.getfixturevalue("failing_store") == []
    with pytest.raises(review_findings.WorkflowError) as err:
        review_findings.add_attachment(finding, author, SimpleUploadedFile("log.txt", b"observed output"))
    assert err.value.field == "file" and STORED_MESSAGE in str(err.value)
    assert not FindingAttachment.objects.exists() and backend.names("findings/") == []


def test_a_row_that_cannot_be_written_leaves_no_file(backend, release, org_admin, monkeypatch):
    def broken_log(*args, **kwargs):
        raise RuntimeError("the database refused the row")

    monkeypatch.setattr(audit, "log", broken_log)
    with pytest.raises(RuntimeError):
        evidence.store(release, ContentFile(PDF, name="report.pdf"), org_admin)
    assert not EvidenceFile.objects.exists() and backend.names() == []


# --- finding attachments and audit reports -------------------------------------------------------------


def test_finding_attachments_round_trip_and_go_with_their_draft(backend, client, framework, org, org_admin, staff,
                                                                org_member, django_capture_on_commit_callbacks):
    window = in_review(org, org_admin, staff).review_window
    author = enrolled(window)
    finding = draft(window, author)
    attachment = review_findings.add_attachment(finding, author, SimpleUploadedFile("transcript.md", b"# Hi\n"))
    assert backend.names("findings/") == [f"findings/{attachment.stored_name}"]
    url = reverse("certification:finding-attachment", args=[attachment.pk])
    client.force_login(author)
    response = client.get(url)
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"# Hi\n"
    client.force_login(org_member)
    assert client.get(url).status_code == 404  # a draft is the author's alone
    with django_capture_on_commit_callbacks(execute=True):
        review_findings.delete_draft(finding, author)
    assert not Finding.objects.filter(pk=finding.pk).exists() and backend.names("findings/") == []


def test_a_signed_audit_report_is_stored_streamed_and_replaced(backend, client, framework, org, org_admin, staff,
                                                               other_member):
    engagement = engage(in_review_application(org, org_admin, staff), make_accredited_auditor(mfa=True), staff)
    report_url = reverse("auditors:engagement-report", args=[engagement.pk])
    download_url = reverse("auditors:engagement-report-download", args=[engagement.pk])
    text = {"scope": "Sandbox.", "methods": "Reproduced.", "issues": "", "recommendation": "pass", "conditions": ""}
    client.force_login(engagement.accreditation.user)
    client.post(report_url, {**text, "signed_file": pdf("first.pdf"), "draft": "1"})
    first = AuditReport.objects.get(engagement=engagement).signed_file_stored
    assert backend.names("reports/") == [f"reports/{first}"]
    response = client.get(download_url)
    assert response.status_code == 200 and b"".join(response.streaming_content).startswith(b"%PDF-")
    client.post(report_url, {**text, "signed_file": pdf("second.pdf"), "draft": "1"})
    second = AuditReport.objects.get(engagement=engagement).signed_file_stored
    assert second != first and backend.names("reports/") == [f"reports/{second}"]
    client.force_login(other_member)
    assert client.get(download_url).status_code == 404


# --- configuration ---------------------------------------------------------------------------------------


def test_storage_url_selects_the_bucket():
    env = {**os.environ, "STORAGE_URL": "s3://portal-private/files/", "STORAGE_ENDPOINT_URL": "https://s3.example.org",
           "DJANGO_SETTINGS_MODULE": "portal.settings"}
    code = ("import json, django; django.setup(); from django.conf import settings; "
            "print(json.dumps(settings.STORAGES['private']))")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=BASE_DIR, capture_output=True, text=True,
                         check=True).stdout
    private = json.loads(out)
    assert private["BACKEND"] == "storages.backends.s3.S3Storage"
    assert private["OPTIONS"]["bucket_name"] == "portal-private" and private["OPTIONS"]["location"] == "files"
    assert private["OPTIONS"]["endpoint_url"] == "https://s3.example.org"
    assert private["OPTIONS"]["default_acl"] is None  # never public-read


def test_the_local_folder_gives_no_url(settings, tmp_path):
    """Private files are streamed by access-checking views; nothing may build a link to one."""
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    with pytest.raises(ValueError, match="no URL"):
        private_files.private_storage().url("evidence/x")


@pytest.fixture
def prod_s3(prod, monkeypatch):  # noqa: F811 - the imported fixture
    """Production settings with files in a bucket: no PRIVATE_STORAGE_ROOT needed."""
    monkeypatch.delenv("PRIVATE_STORAGE_ROOT")
    prod.PRIVATE_STORAGE_ROOT = Path(prod.VAR_DIR) / "private"
    prod.STORAGE_URL, prod.STORAGE_ENDPOINT_URL = "s3://portal-private/files", "https://s3.example.org"
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no waiting for a machine role in the tests
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    return prod


def test_production_check_accepts_a_bucket_instead_of_the_folder(prod_s3):
    assert checks.check_production_settings() == []


@pytest.mark.parametrize(("setting", "value"), [
    ("STORAGE_URL", "https://portal-private/files"), ("STORAGE_URL", "s3://"),
    ("STORAGE_URL", "s3://key:secret@portal-private"), ("STORAGE_ENDPOINT_URL", "s3.example.org"),
])
def test_production_check_names_a_bad_storage_url(prod_s3, setting, value):
    setattr(prod_s3, setting, value)
    [error] = checks.check_production_settings()
    assert error.id == "portal.E010" and setting in error.msg


@pytest.mark.parametrize("missing", ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "both"])
def test_production_check_needs_the_bucket_credentials(prod_s3, monkeypatch, missing):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY") if missing == "both" else (missing,):
        monkeypatch.delenv(key)
    [error] = checks.check_production_settings()
    assert error.id == "portal.E011" and "AWS_ACCESS_KEY_ID" in error.hint
