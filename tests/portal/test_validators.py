"""portal.validators: single-line names without control or direction characters, links that
are http(s) only; and the guard that every free-text name field and every URL field uses them."""

from __future__ import annotations

import re

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import models

from portal.validators import plain_text, prose_text, web_url


@pytest.mark.parametrize("value", ["Acme AI", "Acme 7B — Instruct", "Модель", "模型 v2", "نموذج", "मॉडल",
                                   "👩‍🔬 Lab", "Zero\u200cwidth non-joiner", "", "O'Brien & Co."])
def test_plain_text_accepts_names_in_any_script(value):
    plain_text(value)


@pytest.mark.parametrize("value, code_point", [
    ("invoice\u202egnp.exe", "U+202E"), ("a\u202db", "U+202D"), ("a\u2066b\u2069", "U+2066"),
    ("a\u200fb", "U+200F"), ("a\u061cb", "U+061C"),
])
def test_plain_text_refuses_direction_characters(value, code_point):
    with pytest.raises(ValidationError, match="direction") as info:
        plain_text(value)
    assert code_point in info.value.messages[0]


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "a\tb", "a\x00b", "a\x1b[31mb", "a\x7fb", "a\x85b",
                                   "a\u2028b", "a\u2029b", "a\ud800b"])
def test_plain_text_refuses_control_characters(value):
    with pytest.raises(ValidationError, match="control character"):
        plain_text(value)


@pytest.mark.parametrize("value", ["Line one\nLine two\r\n\tindented", "نص عربي\u200f (RTL) mark", "Модель\n\n",
                                   "a\u200eb", ""])
def test_prose_text_accepts_line_breaks_tabs_and_direction_marks(value):
    prose_text(value)


@pytest.mark.parametrize("value, code_point", [
    ("access = user\u202e\u2066// admin\u2069\u2066", "U+202E"), ("a\u202ab", "U+202A"), ("a\u2067b", "U+2067"),
])
def test_prose_text_refuses_reordering_controls(value, code_point):
    with pytest.raises(ValidationError, match="direction") as info:
        prose_text(value)
    assert code_point in info.value.messages[0]


@pytest.mark.parametrize("value", ["a\x00b", "a\x1b[31mb", "a\x7fb", "a\x85b", "a\u2028b", "a\ud800b"])
def test_prose_text_refuses_other_control_characters(value):
    with pytest.raises(ValidationError, match="control character"):
        prose_text(value)


@pytest.mark.parametrize("value", ["https://acme.example", "http://acme.example/path?q=1#x",
                                   "https://xn--bcher-kva.example/", ""])
def test_web_url_accepts_http_and_https(value):
    web_url(value)


@pytest.mark.parametrize("value", ["javascript:alert(1)", "JAVASCRIPT:alert(1)", "java\nscript:alert(1)",
                                   " javascript:alert(1)", "javascript://acme.example/%0aalert(1)",
                                   "data:text/html,x", "vbscript:x", "ftp://acme.example", "file:///etc/passwd",
                                   "//acme.example", "acme.example", "https://", "https://acme.example/\u202e",
                                   " https://acme.example"])
def test_web_url_refuses_other_schemes_and_disguises(value):
    with pytest.raises(ValidationError, match="http:// or https://"):
        web_url(value)


# --- guard: every name field and every URL field of the portal's models -------------------------------

# Set by the portal, checked elsewhere, or not shown as a name: no plain_text validator.
MACHINE_OR_CHECKED_ELSEWHERE = {
    "auditors.AuditReport.signed_file_name",  # auditors.reports checks file names (evidence.check_name)
    "auditors.SupportingFile.display_name",  # evidence.check_name
    "certification.EvidenceFile.display_name",  # evidence.check_name
    "certification.FindingAttachment.display_name",  # evidence.check_name
    "certification.EvidenceFile.section",  # a requirement id of the framework version
    "certification.Artifact.path",  # releases.manifest checks paths
    "certification.CertifiedArtifact.path",  # copied from Artifact.path
    "certification.Certificate.hub_repo_id",  # copied from the model at issue
    "certification.Certificate.hub_revision",  # copied from the release at issue
    "certification.Certificate.number",  # generated
    "certification.FrameworkVersion.version",  # FrameworkVersionCreateForm's regex
    "portal.Organization.country",  # OrganizationForm.clean_country: two letters
    "portal.User.time_zone",  # a choice of zoneinfo names
    "portal.AuditEntry.actor_label",  # written by portal.audit
    "portal.AuditEntry.object_repr",  # written by portal.audit
    "portal.Notification.subject",  # rendered from templates
    "portal.Notification.url",  # a reverse() of the portal
    "portal.OutboxEmail.subject",  # rendered from templates
    "portal.IdempotencyKey.key",  # portal.idempotency.valid_key: printable ASCII, never shown
    "portal.IdempotencyKey.method",  # the request's method
    "portal.IdempotencyKey.path",  # the request's path
    "portal.IdempotencyKey.fingerprint",  # a sha256
    "portal.IdempotencyKey.content_type",  # the response's header
}
MACHINE_NAME = re.compile(r"(sha256|hash|digest|stored_name|stored|hint|keyid|password|pseudonym|code|kind|status|"
                          r"family|reminder|action|object_id|object_type|category|severity)$")


def _text_fields():
    for model in apps.get_models():
        if model._meta.app_label not in ("portal", "certification", "auditors"):
            continue
        for field in model._meta.get_fields():
            if isinstance(field, models.CharField) and field.editable:
                yield f"{model._meta.label}.{field.name}", field


def test_every_free_text_name_field_refuses_controls_and_direction_marks():
    missing = [
        label for label, field in _text_fields()
        if not field.choices and not isinstance(field, (models.SlugField, models.EmailField, models.URLField))
        and not MACHINE_NAME.search(field.name) and label not in MACHINE_OR_CHECKED_ELSEWHERE
        and plain_text not in field.validators
    ]
    assert not missing, f"add validators=[portal.validators.plain_text] (or list the field here with why): {missing}"


def test_every_url_field_is_http_or_https_only():
    urls = [(label, field) for label, field in _text_fields() if isinstance(field, models.URLField)]
    assert urls
    assert [label for label, field in urls if web_url not in field.validators] == []


def test_the_listed_exceptions_still_exist():
    labels = {label for label, _field in _text_fields()}
    assert MACHINE_OR_CHECKED_ELSEWHERE <= labels
