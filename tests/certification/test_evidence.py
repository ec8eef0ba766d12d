"""Evidence files (DESIGN §3): bad inputs are refused and leave nothing behind,
good ones are stored privately under a server-side name with their sha256, and
downloads go only through the access-checking view."""

from __future__ import annotations

import hashlib
from unittest import mock
from urllib.parse import quote

import pytest
from django.contrib.messages import get_messages
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse

from certification.releases import evidence
from certification.releases.models import EvidenceFile
from tests.certification.factories import make_release

PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
BOUNDARY = "----evidence-test-boundary"


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    settings.EVIDENCE_MAX_BYTES = 1024


@pytest.fixture
def release(framework, org, org_admin):
    return make_release(org, org_admin, fill=False)


def stored_files(settings) -> list:
    folder = settings.PRIVATE_STORAGE_ROOT / "evidence"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def multipart(filename: str, content: bytes, *, section: str = "", raw_name: bool = False) -> bytes:
    """A multipart body written by hand: the test client would strip the path from the name
    itself, and we want the server to see exactly what a hostile client sends."""
    if raw_name:
        disposition = f'filename="{filename}"'.encode("utf-8", "surrogateescape")
    else:
        disposition = f"filename*=UTF-8''{quote(filename, safe='')}".encode()
    parts = [
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"next\"\r\n\r\n/\r\n".encode(),
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; ".encode() + disposition
        + b"\r\nContent-Type: application/octet-stream\r\n\r\n" + content + b"\r\n",
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"section\"\r\n\r\n{section}\r\n".encode(),
        f"--{BOUNDARY}--\r\n".encode(),
    ]
    return b"".join(parts)


def post_page(client, release, filename, content, **kw):
    return client.post(reverse("certification:evidence-upload", args=[release.pk]),
                       data=multipart(filename, content, **kw),
                       content_type=f"multipart/form-data; boundary={BOUNDARY}")


def post_api(client, release, filename, content, **kw):
    return client.post(f"/api/v1/releases/{release.pk}/evidence/", data=multipart(filename, content, **kw),
                       content_type=f"multipart/form-data; boundary={BOUNDARY}")


def page_error(response) -> str:
    return " ".join(str(m) for m in get_messages(response.wsgi_request) if m.level_tag == "error")


# Name, content, and a word the refusal must contain.
BAD_UPLOADS = [
    pytest.param("report.pdf", b"this is plain text, not a PDF", "not a PDF", id="pdf-that-is-text"),
    pytest.param("results.json", b"{not json", "not valid JSON", id="json-that-is-not-json"),
    pytest.param("notes.txt", b"\xff\xfe\x00\x01binary", "UTF-8", id="txt-that-is-binary"),
    pytest.param("table.csv", b"a,b\n\x00\x00\n", "NUL", id="csv-with-nul-bytes"),
    pytest.param("setup.exe", b"MZ\x90\x00", ".exe", id="exe"),
    pytest.param("README", b"hello", "not accepted", id="no-extension"),
    pytest.param("empty.txt", b"", "empty", id="empty-file"),
    pytest.param("a" * 296 + ".txt", b"hello", "longer than", id="300-characters"),
    pytest.param("x" * 2000 + ".txt", b"x" * 2000, "larger than", id="oversize"),
]


@pytest.mark.parametrize(("name", "content", "why"), BAD_UPLOADS)
def test_bad_upload_through_the_page_is_refused_and_nothing_is_kept(client, settings, release, org_admin,
                                                                    name, content, why):
    if why == "larger than":
        name = "big.txt"
    client.force_login(org_admin)
    response = post_page(client, release, name, content)
    assert response.status_code == 302
    assert why in page_error(response)
    assert not EvidenceFile.objects.exists()
    assert stored_files(settings) == []


@pytest.mark.parametrize(("name", "content", "why"), BAD_UPLOADS)
def test_bad_upload_through_the_api_is_400_and_nothing_is_kept(client, settings, release, org_admin,
                                                               name, content, why):
    if why == "larger than":
        name = "big.txt"
    client.force_login(org_admin)
    response = post_api(client, release, name, content)
    assert response.status_code == 400
    assert why in " ".join(response.json()["file"])
    assert not EvidenceFile.objects.exists()
    assert stored_files(settings) == []


def test_oversize_upload_is_stopped_while_streaming_even_with_csrf_checks(settings, release, org_admin):
    """The CSRF middleware reads the form before the view runs; the size handler must be
    in place by then, or the whole body is spooled before anyone looks at its size."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(org_admin)
    client.get(reverse("certification:release-detail", args=[release.pk]))
    token = client.cookies["csrftoken"].value
    calls = []
    original = evidence.SizeLimitUploadHandler.receive_data_chunk

    def spy(self, raw_data, start):
        calls.append(start)
        return original(self, raw_data, start)

    with mock.patch.object(evidence.SizeLimitUploadHandler, "receive_data_chunk", spy):
        response = client.post(reverse("certification:evidence-upload", args=[release.pk]),
                               data=multipart("big.txt", b"x" * 5000),
                               content_type=f"multipart/form-data; boundary={BOUNDARY}",
                               HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 302
    assert calls, "the size-limit upload handler never saw the body"
    assert "larger than" in page_error(response)
    assert not EvidenceFile.objects.exists() and stored_files(settings) == []


def test_page_upload_without_csrf_token_is_refused(settings, release, org_admin):
    client = Client(enforce_csrf_checks=True)
    client.force_login(org_admin)
    response = post_page(client, release, "ok.txt", b"hello")
    assert response.status_code == 403
    assert not EvidenceFile.objects.exists()


HOSTILE_NAMES = [
    pytest.param("../../etc/evil.txt", id="dot-dot-slash"),
    pytest.param("..\\..\\evil.txt", id="dot-dot-backslash"),
    pytest.param("evil\x00.txt", id="nul"),
    pytest.param("invoice\u202etxt.md", id="right-to-left-override"),
    pytest.param(".htaccess.txt", id="hidden-file"),
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_names_are_refused_by_the_service(settings, release, org_admin, name):
    # ContentFile keeps the name as given (an UploadedFile would strip the path itself).
    with pytest.raises(evidence.EvidenceError):
        evidence.store(release, ContentFile(b"hello", name=name), org_admin)
    assert not EvidenceFile.objects.exists()
    assert stored_files(settings) == []


@pytest.mark.parametrize("name", HOSTILE_NAMES)
@pytest.mark.parametrize("post", [post_page, post_api], ids=["page", "api"])
def test_hostile_names_over_http_never_reach_storage_or_display(client, settings, tmp_path, release, org_admin,
                                                                name, post):
    """Django's parser already drops path parts and unprintable characters from upload
    names; whatever survives must be refused or stored as a harmless display name,
    and nothing is written outside the evidence folder."""
    client.force_login(org_admin)
    post(client, release, name, b"hello")
    for ev in EvidenceFile.objects.all():
        assert "/" not in ev.display_name and "\\" not in ev.display_name and ".." not in ev.display_name
        assert "\x00" not in ev.display_name and "\u202e" not in ev.display_name
        assert ev.stored_name != ev.display_name
    assert len(stored_files(settings)) == EvidenceFile.objects.count()
    assert {p.name for p in tmp_path.iterdir()} <= {"private"}
    assert not (settings.PRIVATE_STORAGE_ROOT / "etc").exists()


def test_raw_nul_in_a_name_over_http_is_not_kept(client, settings, release, org_admin):
    client.force_login(org_admin)
    post_api(client, release, "evil\x00.exe", b"hello", raw_name=True)
    assert not EvidenceFile.objects.exists() and stored_files(settings) == []


def test_good_upload_records_sha256_size_and_a_server_side_name(client, settings, release, org_admin):
    client.force_login(org_admin)
    response = post_api(client, release, "Red team report.pdf", PDF, section="red_teaming_report")
    assert response.status_code == 201, response.json()
    ev = EvidenceFile.objects.get()
    assert response.json()["sha256"] == ev.sha256 == hashlib.sha256(PDF).hexdigest()
    assert ev.size == len(PDF) and ev.family == "pdf" and ev.section == "red_teaming_report"
    assert ev.display_name == "Red team report.pdf"
    assert ev.stored_name != ev.display_name and "report" not in ev.stored_name
    assert stored_files(settings) == [ev.stored_name]
    assert (settings.PRIVATE_STORAGE_ROOT / "evidence" / ev.stored_name).read_bytes() == PDF


def test_good_upload_through_the_page(client, settings, release, org_admin):
    client.force_login(org_admin)
    response = post_page(client, release, "bias.json", b'{"bbq": 0.04}', section="bias_report")
    assert response.status_code == 302 and page_error(response) == ""
    ev = EvidenceFile.objects.get()
    assert ev.family == "json" and ev.section == "bias_report" and ev.size == 13
    assert ev.sha256 == hashlib.sha256(b'{"bbq": 0.04}').hexdigest()
    assert stored_files(settings) == [ev.stored_name]


def test_member_who_is_not_admin_can_upload(client, release, org_member):
    client.force_login(org_member)
    assert post_api(client, release, "notes.md", b"# Notes\n").status_code == 201


def test_other_organization_cannot_upload(client, settings, release, other_member):
    client.force_login(other_member)
    assert post_page(client, release, "notes.md", b"# Notes\n").status_code == 404
    assert post_api(client, release, "notes.md", b"# Notes\n").status_code == 404
    assert not EvidenceFile.objects.exists() and stored_files(settings) == []


@pytest.fixture
def stored(release, org_admin):
    return evidence.store(release, ContentFile(PDF, name="report.pdf"), org_admin, section="bias_report")


def test_download_is_an_attachment_with_nosniff(client, release, org_admin, stored):
    client.force_login(org_admin)
    response = client.get(reverse("certification:evidence-download", args=[stored.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert 'filename="report.pdf"' in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content) == PDF


def test_staff_can_download(client, staff, stored):
    client.force_login(staff)
    assert client.get(reverse("certification:evidence-download", args=[stored.pk])).status_code == 200


def test_other_organization_gets_404_on_download(client, other_member, stored):
    client.force_login(other_member)
    assert client.get(reverse("certification:evidence-download", args=[stored.pk])).status_code == 404
    assert client.get(reverse("certification:evidence-download", args=[stored.pk + 1000])).status_code == 404


def test_anonymous_download_redirects_to_login(client, stored):
    url = reverse("certification:evidence-download", args=[stored.pk])
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_other_organization_gets_404_on_evidence_list_api(client, release, other_member, stored):
    client.force_login(other_member)
    assert client.get(f"/api/v1/releases/{release.pk}/evidence/").status_code == 404


@pytest.mark.parametrize("next_url", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
def test_upload_never_redirects_off_site(client, release, org_admin, next_url):
    client.force_login(org_admin)
    response = client.post(reverse("certification:evidence-upload", args=[release.pk]),
                           {"next": next_url, "file": ContentFile(b"hello", name="notes.txt")})
    assert response.status_code == 302
    assert response["Location"] == reverse("certification:release-detail", args=[release.pk])


def test_upload_by_the_progress_script_gets_the_target_as_json_and_keeps_the_message(client, release, org_admin):
    """The script posts by XHR; following a redirect there would consume the flash message."""
    client.force_login(org_admin)
    response = client.post(reverse("certification:evidence-upload", args=[release.pk]),
                           {"next": "/", "file": ContentFile(b"\xff\xfe\x00binary", name="r.txt")},
                           HTTP_X_REQUESTED_WITH="XMLHttpRequest")
    assert response.status_code == 200 and response.json() == {"location": "/"}
    page = client.get(reverse("certification:release-detail", args=[release.pk]))
    assert "r.txt was not uploaded: The file is not valid UTF-8 text" in page.content.decode()
