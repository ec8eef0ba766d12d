"""The SVG badge per certificate: tier and status, ETag, no-cache, the README snippet."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from certification.certificates import services
from certification.releases import applications
from tests.certification.certificate_helpers import certify


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path, monkeypatch):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    monkeypatch.setattr(applications, "GATE_PROVIDERS", [])
    monkeypatch.setattr(applications, "REVIEW_STARTED_HOOKS", [])


def test_badge_shows_tier_and_status_with_etag_and_no_cache(framework, org, org_admin, staff, client):
    cert = certify(org, org_admin, staff)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/registry/{cert.number}/badge.svg")
    assert len(queries) == 1  # the certificate's tier, status and expiry
    assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"
    assert response["Cache-Control"] == "no-cache" and response["ETag"]
    svg = response.content.decode()
    assert "RRC Tier 1" in svg and ">valid<" in svg and 'role="img"' in svg
    assert client.get(f"/registry/{cert.number}/badge.svg", HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304


def test_badge_changes_on_the_next_request_after_suspension(framework, org, org_admin, staff, client):
    cert = certify(org, org_admin, staff)
    etag = client.get(f"/registry/{cert.number}/badge.svg")["ETag"]
    services.suspend(cert, staff, "Investigating")
    response = client.get(f"/registry/{cert.number}/badge.svg", HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 200 and ">suspended<" in response.content.decode()


def test_unknown_badge_is_404(framework, client):
    assert client.get("/registry/RRC-NOPE/badge.svg").status_code == 404


def test_certificate_page_offers_the_markdown_snippet(framework, org, org_admin, staff, client, settings):
    settings.SITE_URL = "https://portal.example.org"
    cert = certify(org, org_admin, staff)
    page = client.get(f"/registry/{cert.number}/").content.decode()
    snippet = (f"[![Responsible Release certificate {cert.number}](https://portal.example.org/registry/"
               f"{cert.number}/badge.svg)](https://portal.example.org/registry/{cert.number}/)")
    assert snippet in page


def test_badge_text_is_escaped():
    from certification.certificates.views.registry import badge_svg

    assert "<script" not in badge_svg(1, "<script>")
