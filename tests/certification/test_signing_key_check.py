"""The signing key's system check (certification/certificates/checks.py): with DEBUG off a missing or
unloadable key, or unreadable published keys, is an Error naming the variable; with DEBUG on nothing
is checked and nothing generated. The processes that refuse to start on it:
tests/portal/test_production_checks.py."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certification.certificates import keys
from certification.certificates.checks import check_signing_key


@pytest.fixture
def key_settings(settings, tmp_path, monkeypatch):
    for name in ("SIGNING_KEY_FILE", "SIGNING_KEY", "SIGNING_KEYS_DIR"):
        monkeypatch.delenv(name, raising=False)
        setattr(settings, name, "")
    settings.VAR_DIR = tmp_path / "var"
    settings.DEBUG = False
    return settings


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "signing-key.pem"
    path.write_bytes(keys.private_key_pem(Ed25519PrivateKey.generate()))
    return path


def test_a_key_file_passes(key_settings, monkeypatch, key_file):
    monkeypatch.setenv("SIGNING_KEY_FILE", str(key_file))
    assert check_signing_key() == []


def test_a_seed_in_the_environment_passes(key_settings, monkeypatch):
    monkeypatch.setenv("SIGNING_KEY", base64.b64encode(bytes(range(32))).decode())
    assert check_signing_key() == []


def test_no_key_is_an_error_naming_the_variables(key_settings):
    [error] = check_signing_key()
    assert error.id == "certification.E001"
    assert "SIGNING_KEY_FILE" in error.msg and "SIGNING_KEY " in error.msg
    assert "openssl genpkey -algorithm ed25519" in error.hint
    assert not key_settings.VAR_DIR.exists()  # no development key generated


def test_a_missing_key_file_is_an_error(key_settings, monkeypatch, tmp_path):
    monkeypatch.setenv("SIGNING_KEY_FILE", str(tmp_path / "absent.pem"))
    [error] = check_signing_key()
    assert error.id == "certification.E002"
    assert "SIGNING_KEY_FILE" in error.msg and "absent.pem" in error.msg
    assert not (tmp_path / "absent.pem").exists()


@pytest.mark.parametrize("content", [b"", b"not a key",
                                     b"-----BEGIN PRIVATE KEY-----\nxx\n-----END PRIVATE KEY-----\n"])
def test_a_bad_key_file_is_an_error(key_settings, tmp_path, content):
    (tmp_path / "bad.pem").write_bytes(content)
    key_settings.SIGNING_KEY_FILE = str(tmp_path / "bad.pem")  # as a setting, too
    [error] = check_signing_key()
    assert error.id == "certification.E002" and "SIGNING_KEY_FILE" in error.msg


def test_a_directory_as_key_file_is_an_error(key_settings, monkeypatch, tmp_path):
    monkeypatch.setenv("SIGNING_KEY_FILE", str(tmp_path))
    [error] = check_signing_key()
    assert error.id == "certification.E002" and "SIGNING_KEY_FILE" in error.msg


@pytest.mark.parametrize("value", ["c2hvcnQ=", "not base64 at all"])
def test_a_bad_key_in_the_environment_is_an_error(key_settings, monkeypatch, value):
    monkeypatch.setenv("SIGNING_KEY", value)
    [error] = check_signing_key()
    assert error.id == "certification.E002" and "SIGNING_KEY" in error.msg


def test_both_sources_are_an_error(key_settings, monkeypatch, key_file):
    monkeypatch.setenv("SIGNING_KEY_FILE", str(key_file))
    monkeypatch.setenv("SIGNING_KEY", base64.b64encode(bytes(range(32))).decode())
    [error] = check_signing_key()
    assert error.id == "certification.E002" and "not both" in error.msg


def test_unreadable_published_keys_are_an_error(key_settings, monkeypatch, key_file, tmp_path):
    monkeypatch.setenv("SIGNING_KEY_FILE", str(key_file))
    published = tmp_path / "published"
    monkeypatch.setenv("SIGNING_KEYS_DIR", str(published))
    assert check_signing_key() == []  # a keys directory that does not exist yet: never rotated
    keys.rotate_key(published, key_file)
    assert check_signing_key() == []
    for pem in published.glob("*.pem"):
        pem.unlink()  # the retired key's public part is lost
    [error] = check_signing_key()
    assert error.id == "certification.E003" and "SIGNING_KEYS_DIR" in error.msg
    (published / keys.VALIDITY_FILE).write_text("{not json")
    [error] = check_signing_key()
    assert error.id == "certification.E003"


def test_nothing_is_checked_or_generated_with_debug_on(key_settings, monkeypatch):
    key_settings.DEBUG = True
    assert check_signing_key() == []
    monkeypatch.setenv("SIGNING_KEY", "not base64 at all")
    assert check_signing_key() == []
    assert not key_settings.VAR_DIR.exists()
