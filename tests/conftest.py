"""Shared fixtures: personas, service checks, captured on-commit callbacks."""

from __future__ import annotations

import contextlib
import os

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import override_settings
from django.utils import translation

from tests import factories as f

IN_CI = os.environ.get("CI", "").lower() == "true"


def require(condition: bool, why: str) -> None:
    """Skip locally, fail under CI=true: a missing service must not pass CI silently."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{why} (required under CI=true)", pytrace=False)
    pytest.skip(why)


@pytest.fixture(autouse=True)
def _service_markers(request):
    if request.node.get_closest_marker("postgres"):
        require(connection.vendor == "postgresql", "needs PostgreSQL: set DATABASE_URL")
    if request.node.get_closest_marker("redis"):
        require(bool(os.environ.get("REDIS_URL")), "needs Redis: set REDIS_URL")


# Certificates are signed when issued (DESIGN §7); tests sign with the fixed
# test-vector key (tests/certification/dsse-ed25519.json), never a real one, and the
# model-signing bundles' P-256 key (tests/certification/model-signing-p256.json).
SIGNING_ENV = {
    "SIGNING_KEY": "ZbIVnHFJePPjSCSq/dxMHY8wWrc5t9XlKZWnvicPmkk=",
    "MODEL_SIGNING_KEY": "nksRC77A7LBhW0y29K/1MMdoXxncd1UAgm530ZiO4DM=",
}
SIGNING_FILE_ENV = ("SIGNING_KEY_FILE", "SIGNING_KEYS_DIR", "MODEL_SIGNING_KEY_FILE")
# The embedded file cache under var/ is shared with `make run` and other test runs.
LOCAL_CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "tests"}}
TEST_SETTINGS = {
    "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
    # PBKDF2 costs ~0.5 s per factory user on this machine; tests check logic, not hash strength.
    "PASSWORD_HASHERS": ["django.contrib.auth.hashers.MD5PasswordHasher"],
}


@contextlib.contextmanager
def wide_scope_environment():
    """What the autouse fixtures below give each test, for a fixture of a wider scope that writes
    before them (tests/portal/test_visible_text.py loads the demo once for its module)."""
    from django.conf import settings

    overrides = dict(TEST_SETTINGS)
    if settings.CACHES["default"]["BACKEND"].endswith("FileBasedCache"):
        overrides["CACHES"] = LOCAL_CACHES
    with pytest.MonkeyPatch.context() as monkeypatch, override_settings(**overrides):
        for name in SIGNING_FILE_ENV:
            monkeypatch.delenv(name, raising=False)
        for name, value in SIGNING_ENV.items():
            monkeypatch.setenv(name, value)
        cache.clear()
        yield


@pytest.fixture(autouse=True)
def _signing_key(monkeypatch):
    for name in SIGNING_FILE_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in SIGNING_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(autouse=True)
def _clear_cache(settings):
    # Rate limits and TOTP "code used" marks live in the shared cache.
    if settings.CACHES["default"]["BACKEND"].endswith("FileBasedCache"):
        settings.CACHES = LOCAL_CACHES
    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the default language. A request leaves its language active in the thread
    (LocaleMiddleware activates it, nothing deactivates it): after a page read in French, the next
    test would read French."""
    from django.conf import settings

    with translation.override(settings.LANGUAGE_CODE):
        yield


@pytest.fixture(autouse=True)
def _email_backend(settings, tmp_path):
    for name, value in TEST_SETTINGS.items():
        setattr(settings, name, value)


@pytest.fixture
def framework(db):
    """Version 2025.1 (re-created: live-server tests flush the data migration's rows)."""
    from certification.framework.models import Benchmark, FrameworkVersion
    from certification.framework.seed import seed_framework

    seed_framework(FrameworkVersion, Benchmark)
    return FrameworkVersion.objects.get(version="2025.1")


# --- personas ---------------------------------------------------------------------


@pytest.fixture
def org(db):
    return f.OrganizationFactory(name="Acme AI", slug="acme")


@pytest.fixture
def other_org(db):
    return f.OrganizationFactory(name="Rival Labs", slug="rival")


@pytest.fixture
def org_admin(org):
    return f.MembershipFactory(organization=org, role="admin").user


@pytest.fixture
def org_member(org):
    return f.MembershipFactory(organization=org, role="member").user


@pytest.fixture
def other_member(other_org):
    """An admin of another organization: must never see the first one's rows."""
    return f.MembershipFactory(organization=other_org, role="admin").user


@pytest.fixture
def staff(db):
    return f.make_staff()


@pytest.fixture
def auditor(db):
    """An auditor without an assignment (later work items add the assigned one)."""
    return f.make_auditor()


@pytest.fixture
def evaluator(db):
    return f.make_evaluator()


@pytest.fixture
def client_for(client):
    """Log a client in as a persona: ``client_for(user)``."""

    def login(user):
        client.force_login(user)
        return client

    return login
