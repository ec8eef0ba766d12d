"""Shared fixtures: personas, service checks, captured on-commit callbacks."""

from __future__ import annotations

import os

import pytest
from django.core.cache import cache
from django.db import connection

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


@pytest.fixture(autouse=True)
def _signing_key(monkeypatch):
    # Certificates are signed when issued (DESIGN §7); tests sign with the fixed
    # test-vector key (tests/certification/dsse-ed25519.json), never a real one.
    for name in ("SIGNING_KEY_FILE", "SIGNING_KEYS_DIR", "MODEL_SIGNING_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SIGNING_KEY", "ZbIVnHFJePPjSCSq/dxMHY8wWrc5t9XlKZWnvicPmkk=")
    # The model-signing bundles' P-256 key (tests/certification/model-signing-p256.json).
    monkeypatch.setenv("MODEL_SIGNING_KEY", "nksRC77A7LBhW0y29K/1MMdoXxncd1UAgm530ZiO4DM=")


@pytest.fixture(autouse=True)
def _clear_cache(settings):
    # Rate limits and TOTP "code used" marks live in the shared cache.
    if settings.CACHES["default"]["BACKEND"].endswith("FileBasedCache"):
        # The embedded file cache under var/ is shared with `make run` and other test runs.
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "tests"}}
    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _email_backend(settings, tmp_path):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    # PBKDF2 costs ~0.5 s per factory user on this machine; tests check logic, not hash strength.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


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
