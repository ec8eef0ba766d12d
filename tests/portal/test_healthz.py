"""/healthz: database and broker reachability for load balancers, no secrets."""

from __future__ import annotations

import socket

import pytest

from portal.celery import app


def closed_port() -> int:
    """A local port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def broker(monkeypatch):
    """Point the Celery app at another broker URL for one test.

    Only ``app.conf`` is patched: overriding Django's CELERY_BROKER_URL could be
    read into the lazily loaded Celery config and outlive the test."""

    def use(url: str) -> None:
        monkeypatch.setattr(app.conf, "broker_url", url)

    return use


def test_healthy_when_database_and_broker_answer(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.redis
def test_healthy_with_redis_broker(client, db, broker):
    import os

    broker(os.environ["REDIS_URL"])
    assert client.get("/healthz").json()["broker"] == "ok"


def test_unreachable_broker_gives_503_without_secrets(client, db, broker, settings):
    password = "s3cret-broker-password"
    broker(f"redis://:{password}@127.0.0.1:{closed_port()}/0")
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body == {"status": "degraded", "database": "ok", "broker": "unreachable"}
    text = response.content.decode()
    for secret in (password, settings.SECRET_KEY, "127.0.0.1", "redis://"):
        assert secret not in text


def test_unreachable_database_gives_503(client, db, monkeypatch):
    from django.db import connection
    from django.db.utils import OperationalError

    def broken_cursor(*args, **kwargs):
        raise OperationalError("could not connect to server: password=hunter2")

    with monkeypatch.context() as m:
        m.setattr(connection, "cursor", broken_cursor)
        # Sessions and auth are not touched by an anonymous request to /healthz.
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"
    assert "hunter2" not in response.content.decode()


def test_healthz_answers_signed_in_staff_without_mfa(client, db):
    from tests import factories as f

    client.force_login(f.make_staff(mfa=False))
    response = client.get("/healthz")
    assert response.status_code == 200, response.content


def test_healthz_is_fast_when_the_broker_is_down(client, db, broker):
    import time

    broker(f"redis://127.0.0.1:{closed_port()}/0")
    started = time.monotonic()
    client.get("/healthz")
    assert time.monotonic() - started < 1.5


def test_api_throttles_ignore_a_forged_forwarded_for_header(client, db, settings):
    """Without BEHIND_PROXY the client is its socket address, whatever X-Forwarded-For says."""
    from rest_framework.test import APIRequestFactory
    from rest_framework.throttling import AnonRateThrottle

    request = APIRequestFactory().get("/api/v1/", HTTP_X_FORWARDED_FOR="203.0.113.9", REMOTE_ADDR="198.51.100.7")
    assert AnonRateThrottle().get_ident(request) == "198.51.100.7"
