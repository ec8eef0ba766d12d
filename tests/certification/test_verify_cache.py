"""The cached verify path (issue 15 §2): hits without SQL, invalidation on every status change,
no stale "valid" across an expiry, ETag and 304, Cache-Control bounded by the next expiry."""

from __future__ import annotations

import hashlib
import os
import uuid
from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from certification.certificates import services as certificate_services
from certification.certificates import verify_cache
from certification.certificates.models import Certificate
from certification.releases import applications as release_applications
from tests import factories as f
from tests.certification.certificate_helpers import SHA_A, SHA_B, backdate, certify, decision_pending

REPO = "acme/m-1b"
LOOKUPS = [{"certificate": None}, {"sha256": SHA_A}, {"model": REPO}]


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path, monkeypatch):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    monkeypatch.setattr(release_applications, "GATE_PROVIDERS", [])
    monkeypatch.setattr(release_applications, "REVIEW_STARTED_HOOKS", [])


@pytest.fixture
def staff2(db):
    return f.make_staff()


@pytest.fixture
def cert(framework, org, org_admin, staff):
    return certify(org, org_admin, staff, digests=(SHA_A,), hub_repo_id=REPO)


def params_for(cert: Certificate, lookup: dict) -> dict:
    return {k: (cert.number if v is None else v) for k, v in lookup.items()}


def get(client, params: dict, **headers):
    return client.get("/api/v1/verify/", params, **headers)


def status_of(client, params: dict) -> str:
    response = get(client, params)
    assert response.status_code == 200, response.content
    return response.json()["status"]


def queries_of(client, params: dict, **headers) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as ctx:
        response = get(client, params, **headers)
    return len(ctx.captured_queries), response


# --- hits --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lookup", LOOKUPS, ids=["number", "sha256", "model"])
def test_second_request_is_served_from_the_cache_without_sql(cert, client, lookup):
    params = params_for(cert, lookup)
    first_queries, first = queries_of(client, params)
    assert first_queries >= 1 and first.json()["verified"] is True
    second_queries, second = queries_of(client, params)
    assert second_queries == 0
    assert second.status_code == 200 and second.content == first.content and second["ETag"] == first["ETag"]


def test_equivalent_spellings_share_one_entry(cert, client):
    get(client, {"certificate": cert.number})
    assert queries_of(client, {"certificate": f"  {cert.number.lower()} "})[0] == 0
    get(client, {"sha256": SHA_A})
    assert queries_of(client, {"sha256": SHA_A.upper()})[0] == 0
    get(client, {"model": REPO})
    assert queries_of(client, {"model": REPO.upper()})[0] == 0
    # A revision is another answer (the certificate names no revision: not found), cached too.
    assert status_of(client, {"model": REPO + "@main"}) == "not_found"
    assert queries_of(client, {"model": REPO + "@main"})[0] == 0


def test_a_write_behind_the_services_back_is_not_seen(cert, client):
    """The cache is really used: only the services' invalidation makes a change visible."""
    assert status_of(client, {"certificate": cert.number}) == "valid"
    Certificate.objects.filter(pk=cert.pk).update(status=Certificate.Status.SUSPENDED)
    assert status_of(client, {"certificate": cert.number}) == "valid"


def test_bad_input_is_a_400_naming_the_field_and_not_cached(framework, client):
    for _ in range(2):
        response = get(client, {"sha256": "zz"})
        assert response.status_code == 400 and "sha256" in response.json()
    assert get(client, {"sha256": SHA_A, "model": REPO}).status_code == 400


def test_a_repo_id_outside_ascii_is_answered_uncached(framework, client):
    for _ in range(2):
        count, response = queries_of(client, {"model": "acmé/straße"})
        assert response.status_code == 200 and response.json()["status"] == "not_found" and count == 1


def test_hits_skip_the_throttle_and_misses_do_not(framework, client, settings):
    """The per-address throttle guards the database; an answer from the cache costs it nothing."""
    from rest_framework.settings import api_settings

    rates = dict(api_settings.DEFAULT_THROTTLE_RATES, registry="3/minute")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    assert [get(client, {"certificate": "RRC-0"}).status_code for _ in range(6)] == [200] * 6
    assert [get(client, {"certificate": f"RRC-{i}"}).status_code for i in (1, 2, 3)] == [200, 200, 429]


def test_the_fast_path_keeps_the_schema_and_options(framework, client):
    options = client.options("/api/v1/verify/")
    assert options.status_code == 200 and "If-None-Match" in options["Access-Control-Allow-Headers"]
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    assert '"operationId":"verify"' in schema.replace(" ", "") or "operationId: verify" in schema


# --- invalidation on every status change ---------------------------------------------------------------


def warm(client, cert: Certificate, expected: str) -> list[dict]:
    """Every lookup of ``cert`` answered once (so cached) with ``expected``."""
    every = [params_for(cert, lookup) for lookup in LOOKUPS]
    for params in every:
        assert status_of(client, params) == expected, params
        assert queries_of(client, params)[0] == 0, params
    return every


def test_issue_ends_cached_not_found_answers(framework, org, org_admin, staff, client):
    app = decision_pending(org, org_admin, staff, digests=(SHA_A,), hub_repo_id=REPO)
    for params in ({"sha256": SHA_A}, {"model": REPO}):
        assert status_of(client, params) == "not_found"
        assert queries_of(client, params)[0] == 0
    certificate_services.approve(app, staff)
    cert = Certificate.objects.get(application=app)
    for params in ({"sha256": SHA_A}, {"model": REPO}, {"certificate": cert.number}):
        assert status_of(client, params) == "valid", params


def test_suspend_and_reinstate_invalidate(cert, client, staff):
    every = warm(client, cert, "valid")
    certificate_services.suspend(cert, staff, "Investigating")
    assert [status_of(client, p) for p in every] == ["suspended"] * 3
    certificate_services.reinstate(cert, staff, "Cleared")
    assert [status_of(client, p) for p in every] == ["valid"] * 3


def test_revoke_invalidates(cert, client, staff, staff2):
    every = warm(client, cert, "valid")
    certificate_services.propose_revocation(cert, staff, "Fraud")
    # A proposal changes nothing yet, and the cached answer stands.
    assert [queries_of(client, p)[0] for p in every] == [0, 0, 0]
    certificate_services.confirm_revocation(cert, staff2)
    assert [status_of(client, p) for p in every] == ["revoked"] * 3


def test_supersede_invalidates(framework, org, org_admin, staff, client):
    old = backdate(certify(org, org_admin, staff, digests=(SHA_A,), hub_repo_id=REPO), 200)
    by_number = {"certificate": old.number}
    assert status_of(client, by_number) == "valid"
    assert status_of(client, {"sha256": SHA_B}) == "not_found"
    app = certificate_services.start_renewal(old, org_admin)
    release_applications.submit_application(app, org_admin, signer_name="A", signer_title="B",
                                            affirmed=[1, 2, 3, 4, 5, 6])
    release_applications.start_screening(app, staff)
    release_applications.accept_into_review(app, staff)
    release_applications.complete_review(app, staff)
    certificate_services.approve(app, staff)
    new = Certificate.objects.get(application=app)
    assert status_of(client, by_number) == "superseded"
    body = get(client, {"sha256": SHA_A}).json()
    assert {c["number"]: c["status"] for c in body["certificates"]} == {old.number: "superseded", new.number: "valid"}


def test_invalidation_runs_again_after_commit(cert, django_capture_on_commit_callbacks, staff):
    """A request between the change and its commit may cache the old rows under the first new
    token; the second bump, after commit, ends that answer too."""
    key = verify_cache.lookup_keys("certificate", cert.number)[0]
    before = cache.get(key)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        certificate_services.suspend(cert, staff, "Investigating")
    at_once = cache.get(key)
    assert at_once and at_once != before
    for callback in callbacks:
        callback()
    assert cache.get(key) not in (None, at_once)


def test_an_evicted_token_never_revives_an_old_answer(cert, client, staff):
    params = {"certificate": cert.number}
    assert status_of(client, params) == "valid"
    version_key, answer_key = verify_cache.lookup_keys("certificate", cert.number)
    stale = cache.get(answer_key)
    certificate_services.suspend(cert, staff, "Investigating")
    cache.delete(version_key)  # evicted by the cache
    cache.set(answer_key, stale)  # and the old answer still there
    assert status_of(client, params) == "suspended"


# --- expiry ------------------------------------------------------------------------------------------------


def test_no_stale_valid_across_expiry(cert, client):
    params = [params_for(cert, lookup) for lookup in LOOKUPS]
    with time_machine.travel(cert.expires_at - timedelta(seconds=30), tick=False):
        for p in params:
            response = get(client, p)
            assert response.json()["status"] == "valid"
            assert response["Cache-Control"] == "public, max-age=30"
    with time_machine.travel(cert.expires_at - timedelta(seconds=10), tick=False):
        count, response = queries_of(client, params[0])
        assert count == 0 and response["Cache-Control"] == "public, max-age=10"
    with time_machine.travel(cert.expires_at, tick=False):
        assert [status_of(client, p) for p in params] == ["expired"] * 3


def test_an_answer_expiring_within_a_second_is_not_stored(cert, client):
    with time_machine.travel(cert.expires_at - timedelta(milliseconds=500), tick=False):
        response = get(client, {"certificate": cert.number})
        assert response.json()["status"] == "valid" and response["Cache-Control"] == "public, max-age=0"
        assert queries_of(client, {"certificate": cert.number})[0] == 1


def test_expired_or_not_found_answers_keep_a_minute(cert, client):
    with time_machine.travel(cert.expires_at + timedelta(days=1), tick=False):
        response = get(client, {"certificate": cert.number})
        assert response.json()["status"] == "expired" and response["Cache-Control"] == "public, max-age=60"
    assert get(client, {"sha256": SHA_B})["Cache-Control"] == "public, max-age=60"


# --- ETag and 304 ----------------------------------------------------------------------------------------------


def test_etag_is_a_hash_of_the_body_and_gives_304(cert, client, staff):
    params = {"sha256": SHA_A}
    first = get(client, params)
    assert first["ETag"] == '"' + hashlib.sha256(first.content).hexdigest()[:40] + '"'
    count, again = queries_of(client, params, HTTP_IF_NONE_MATCH=first["ETag"])
    assert count == 0 and again.status_code == 304 and again.content == b""
    assert again["ETag"] == first["ETag"] and again["Cache-Control"] == "public, max-age=60"
    assert again["Access-Control-Allow-Origin"] == "*"
    assert get(client, params, HTTP_IF_NONE_MATCH='"other"').status_code == 200
    certificate_services.suspend(cert, staff, "Investigating")
    after = get(client, params, HTTP_IF_NONE_MATCH=first["ETag"])
    assert after.status_code == 200 and after.json()["status"] == "suspended" and after["ETag"] != first["ETag"]


# --- the same against Redis, as in production --------------------------------------------------------------


@pytest.mark.redis
def test_hits_and_invalidation_with_redis(settings, cert, client, staff):
    prefix = f"test-verify-cache-{uuid.uuid4().hex[:8]}"
    settings.CACHES = {"default": {"BACKEND": "portal.cache.RedisCache", "LOCATION": os.environ["REDIS_URL"],
                                   "KEY_PREFIX": prefix}}
    try:
        # portal.cache builds one Redis client per connection pool, not one per call.
        assert cache._cache.get_client() is cache._cache.get_client()
        params = {"certificate": cert.number}
        first = get(client, params)
        count, again = queries_of(client, params, HTTP_IF_NONE_MATCH=first["ETag"])
        assert count == 0 and again.status_code == 304
        certificate_services.suspend(cert, staff, "Investigating")
        assert status_of(client, params) == "suspended"
        assert queries_of(client, params)[0] == 0
    finally:
        import redis

        client_ = redis.Redis.from_url(os.environ["REDIS_URL"])
        keys = list(client_.scan_iter(match=f"{prefix}:*"))
        if keys:
            client_.delete(*keys)


def test_a_cache_outage_never_blocks_a_status_change_or_a_lookup(cert, staff, monkeypatch, caplog):
    """The cache is an accelerator, never a gate: a status change commits with Redis unreachable
    (the lost invalidation is logged), and a lookup is answered from the database."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    def down(*args, **kwargs):
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    for method in ("get", "get_many", "set", "set_many", "add"):
        monkeypatch.setattr(cache, method, down)
    certificate_services.suspend(cert, staff, "Investigating")
    cert.refresh_from_db()
    assert cert.status == Certificate.Status.SUSPENDED
    assert "verify cache invalidation lost" in caplog.text

    computed = []

    def compute(at):
        computed.append(at)
        return b'{"status": "suspended"}', [cert], None

    result = verify_cache.answer("certificate", cert.number, compute)
    assert result.body == b'{"status": "suspended"}' and len(computed) == 1


def test_a_hit_is_answered_before_sessions_and_the_rest_of_the_stack(cert, client, monkeypatch):
    """``VerifyCacheMiddleware`` answers a hit with the security and CSP headers set, without the
    session, locale, authentication or messages middleware (most of a hit's time); a miss goes down."""
    from django.contrib.messages.middleware import MessageMiddleware

    params = {"sha256": SHA_A}
    assert get(client, params).status_code == 200  # a miss: computed and stored

    def refuse(self, request):
        raise AssertionError("the rest of the stack ran for a cache hit")

    monkeypatch.setattr(MessageMiddleware, "process_request", refuse)
    count, hit = queries_of(client, params)
    assert count == 0 and hit.status_code == 200 and hit.json()["status"] == "valid"
    assert hit["X-Content-Type-Options"] == "nosniff" and "Content-Security-Policy" in hit
    assert "Cookie" not in hit.get("Vary", "")
    assert get(client, params, HTTP_IF_NONE_MATCH=hit["ETag"]).status_code == 304
    with pytest.raises(AssertionError, match="rest of the stack"):
        get(client, {"sha256": SHA_B})  # a miss goes on down the stack


def test_a_hit_still_checks_the_host(cert, client):
    params = {"certificate": cert.number}
    assert get(client, params).status_code == 200
    assert get(client, params, HTTP_HOST="evil.example").status_code == 400
