"""Faults the portal survives (issue 13 §5): Redis stopped, PostgreSQL restarted, evidence storage full.

**Redis stopped** (``test_attestation_filed_while_redis_is_down...``, ``test_certificate_issued_while...``):
a private ``redis-server`` is the broker and the cache; it stops after the person has loaded the
page, the page's POST (the attestation with its statements after re-authentication; staff issuing
a Tier 1 certificate) commits with no 5xx, the emails wait in the outbox, and once Redis is back a
real worker's periodic drain delivers each exactly once.

**PostgreSQL restarted** (``test_database_outage...``): the machine's PostgreSQL is shared, so the
outage is simulated on the test database only, which is reliable and needs no second cluster: from
a superuser connection to the ``postgres`` database, ``ALTER DATABASE ... ALLOW_CONNECTIONS false``
and ``pg_terminate_backend`` of every session of the test database except this test's own (what a
restart does to clients: connections dropped, new ones refused), then ``ALLOW_CONNECTIONS true``.
A gunicorn web process (one sync worker, development settings) and a Celery worker with beat
sweeping 700 due deadlines live through it. First only the web's persistent connection is dropped
between two requests (a restart nobody saw): the next request answers 200 (``CONN_HEALTH_CHECKS``).
Then the outage cuts the sweep's second batch: pages and the API answer 503 with ``Retry-After``
(portal/outages.py); once connections are allowed again the same processes answer 200, and every
deadline's reminder is claimed, notified and emailed exactly once. Without services, the
middleware's tests below fake the error where Django would meet it.

**Evidence storage full**: the file the upload writes fails with ENOSPC half-way; the page and the
API refuse the upload with a message, no ``EvidenceFile`` row is written and no partial file stays.
"""

from __future__ import annotations

import builtins
import errno
import json
import os
import time
from collections import Counter
from html.parser import HTMLParser
from unittest import mock

import psycopg
import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.core.cache import caches
from django.db import InterfaceError, OperationalError, connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from redis.exceptions import ConnectionError as RedisConnectionError

from certification.certificates.models import Certificate
from certification.releases import applications, evidence
from certification.releases.models import Application, EvidenceFile
from portal.models import Notification, OutboxEmail, ReminderClaim
from tests import factories as f
from tests.celery_support import (
    celery_broker,
    celery_worker,
    current_database_url,
    redis_server,
    wait_for,
    web_server,
)
from tests.certification.factories import make_release, submitted_application
from tests.portal.test_deadline_fault import WORKER_ENV, reminders_in, seed_due

S = Application.Status
RETRY_AFTER = "30"


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"


def outage_client() -> Client:
    # The test client re-raises a view's exception even when a middleware answered it: these
    # tests look at the answer a browser would get.
    return Client(raise_request_exception=False)


def assert_outage_page(response_status: int, headers, body: str) -> None:
    assert response_status == 503, body[:500]
    assert headers["Retry-After"] == RETRY_AFTER
    assert "briefly unavailable" in body and "try again" in body
    assert "Traceback" not in body and "OperationalError" not in body


# --- the 503 middleware, without services ---------------------------------------------------------


def test_a_page_whose_session_cannot_be_loaded_answers_503_in_the_portals_style(org_admin, caplog):
    client = outage_client()
    client.force_login(org_admin)
    error = OperationalError('connection to server at "127.0.0.1", port 5432 failed: Connection refused')
    with mock.patch.object(SessionStore, "load", side_effect=error):
        response = client.get(reverse("portal:dashboard"))
    body = response.content.decode()
    assert_outage_page(response.status_code, response, body)
    assert "css/portal.css" in body and "Content-Security-Policy" in response.headers
    assert "503 for GET /dashboard/: the database is unavailable (OperationalError" in caplog.text


def test_the_api_answers_503_in_json_during_a_database_outage(org_admin):
    client = outage_client()
    client.force_login(org_admin)
    with mock.patch.object(SessionStore, "load", side_effect=InterfaceError("connection already closed")):
        response = client.get("/api/v1/releases/")
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == RETRY_AFTER
    assert response.json() == {"detail": "The service is briefly unavailable. Try again in 30 seconds.",
                               "code": "service_unavailable"}
    # Above LocaleMiddleware, the answer still reads the client's language.
    with mock.patch.object(SessionStore, "load", side_effect=InterfaceError("connection already closed")):
        response = client.get("/api/v1/releases/", HTTP_ACCEPT_LANGUAGE="fr")
    assert response.json() == {"detail": "Le service est momentanément indisponible. Réessayez dans 30 secondes.",
                               "code": "service_unavailable"}


def test_a_view_that_meets_a_dropped_connection_answers_503(db):
    client = outage_client()
    with mock.patch("portal.views.render", side_effect=OperationalError("server closed the connection")):
        response = client.get("/")
    assert_outage_page(response.status_code, response, response.content.decode())


def test_an_unreachable_cache_answers_503_where_the_cache_is_required(org_admin):
    """Sign-in counts attempts in the cache (allauth's rate limits): Redis down means 503, not 500."""
    client = outage_client()
    down = RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
    backend = type(caches["default"])
    with mock.patch.object(backend, "get", side_effect=down), mock.patch.object(backend, "set", side_effect=down), \
            mock.patch.object(backend, "add", side_effect=down), mock.patch.object(backend, "incr", side_effect=down):
        response = client.post(reverse("account_login"), {"login": org_admin.email, "password": f.PASSWORD})
    assert_outage_page(response.status_code, response, response.content.decode())


def test_other_errors_stay_500(db):
    """The middleware answers outages only: a bug still reaches the 500 page and the error log."""
    client = outage_client()
    with mock.patch("portal.views.render", side_effect=ValueError("a bug")):
        response = client.get("/")
    assert response.status_code == 500
    assert "Retry-After" not in response


# --- evidence storage full ------------------------------------------------------------------------

BOUNDARY = "----faults-boundary"
STORED_MESSAGE = "could not be stored, try again"


def multipart(filename: str, content: bytes) -> bytes:
    return b"".join([
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n".encode()
        + b"Content-Type: text/plain\r\n\r\n" + content + b"\r\n",
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"section\"\r\n\r\n\r\n".encode(),
        f"--{BOUNDARY}--\r\n".encode(),
    ])


class FullDisk:
    """A file being written that takes ``room`` bytes, writes part of the next chunk, then fails
    like a full disk (ENOSPC): what a filling volume or a refusing object store does mid-upload."""

    def __init__(self, file, room: int):
        self.file = file
        self.room = room

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.file.close()

    def write(self, data: bytes) -> int:
        if self.file.tell() + len(data) > self.room:
            self.file.write(data[: max(self.room - self.file.tell(), 0)])
            self.file.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.file.write(data)


@pytest.fixture
def full_disk(monkeypatch):
    """Evidence files opened for writing fill up after 1.5 chunks; returns the paths opened."""
    opened = []

    def open_full(path, mode="r", *args, **kwargs):
        handle = builtins.open(path, mode, *args, **kwargs)  # noqa: SIM115 - the caller's with closes it
        if "x" in mode or "w" in mode:
            opened.append(path)
            return FullDisk(handle, room=evidence.CHUNK + evidence.CHUNK // 2)
        return handle

    # evidence.store() opens its target with the builtin open(): a module global shadows it.
    monkeypatch.setattr(evidence, "open", open_full, raising=False)
    return opened


def evidence_files(settings) -> list[str]:
    folder = settings.PRIVATE_STORAGE_ROOT / "evidence"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize("via", ["page", "api"])
def test_an_upload_that_fills_the_disk_is_refused_and_leaves_nothing(via, framework, org, org_admin, settings,
                                                                     full_disk, caplog):
    release = make_release(org, org_admin, fill=False)
    before_rows, before_files = EvidenceFile.objects.count(), evidence_files(settings)
    client = outage_client()
    client.force_login(org_admin)
    content = b"benchmark log line\n" * (3 * evidence.CHUNK // 19)  # several chunks: the disk fills mid-file
    url = (reverse("certification:evidence-upload", args=[release.pk]) if via == "page"
           else f"/api/v1/releases/{release.pk}/evidence/")
    response = client.post(url, data=multipart("results.txt", content),
                           content_type=f"multipart/form-data; boundary={BOUNDARY}", follow=via == "page")

    assert len(full_disk) == 1, "the upload never reached the failing file"
    if via == "page":
        assert response.status_code == 200 and response.redirect_chain
        assert STORED_MESSAGE in response.content.decode()
        assert "results.txt was not uploaded" in response.content.decode()
    else:
        assert response.status_code == 503
        assert response["Retry-After"]
        assert STORED_MESSAGE in response.json()["file"][0]
    assert EvidenceFile.objects.count() == before_rows
    assert evidence_files(settings) == before_files  # the partial file is gone
    assert "evidence file could not be stored: [Errno 28]" in caplog.text


# --- Redis stopped during the organization's and the staff's POSTs --------------------------------


def private_redis_for_everything(settings, url: str) -> None:
    """Broker and cache on the private server (``celery_broker`` points the publishing side)."""
    settings.CELERY_BROKER_URL = url
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url,
                                   "KEY_PREFIX": "faults"}}


def mark_earlier_emails_sent() -> None:
    # Emails of the set-up (registering the model...) were published to the test's own Redis:
    # out of scope here; only the ones the POST under test committed are counted.
    OutboxEmail.objects.filter(sent_at__isnull=True).update(sent_at=timezone.now())


def deliver_after_redis_returns(tmp_path, redis, rows: list[OutboxEmail]) -> list[str]:
    """Restart Redis, run a worker with beat until every row is sent, plus a few more drains."""
    redis.start()
    with celery_worker(tmp_path, broker_url=redis.url, beat=True, env={"OUTBOX_DRAIN_SECONDS": "1"}) as worker:
        wait_for(lambda: not OutboxEmail.objects.filter(pk__in=[r.pk for r in rows], sent_at__isnull=True).exists(),
                 45, what="the outbox rows to be sent")
        worker.wait_for_emails(len(rows))
        wait_for(lambda: worker.log().count("portal.tasks.drain_outbox[") >= 6, 30, what="more drain runs")
        return worker.emails()


class _HiddenFields(HTMLParser):
    def __init__(self):
        super().__init__()
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("type") == "hidden" and attrs.get("name"):
            self.fields[attrs["name"]] = attrs.get("value") or ""


def hidden_fields(html: str) -> dict[str, str]:
    """What the confirmation page's form posts (its hidden fields), as the browser would send it."""
    parser = _HiddenFields()
    parser.feed(html)
    return parser.fields


def recipients(emails: list[str]) -> Counter:
    return Counter(line[4:].strip() for e in emails for line in e.splitlines() if line.startswith("To: "))


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_attestation_filed_while_redis_is_down_is_committed_and_emailed_once_after(tmp_path, settings, framework,
                                                                                   org, org_admin, staff):
    """Staff are told of the submission by email (``staff`` is who receives it)."""
    release = make_release(org, org_admin)
    app = applications.start_application(release, org_admin)
    mark_earlier_emails_sent()
    client = outage_client()
    client.force_login(org_admin)
    url = reverse("certification:application-attest", args=[app.pk])

    with redis_server() as redis, celery_broker(redis.url):
        private_redis_for_everything(settings, redis.url)
        # The person re-authenticates and reads "check your answers" while all is well...
        assert client.get(url).status_code == 302  # to the re-authentication page
        response = client.post(reverse("account_reauthenticate"), {"password": f.PASSWORD})
        assert response.status_code == 302, response.content[:500]
        page = client.get(url)
        assert page.status_code == 200 and "Check your answers" in page.content.decode()
        # ...then Redis stops before they press "File the attestation".
        redis.stop()
        started = time.monotonic()
        response = client.post(url, {"signer_name": "Ada Admin", "signer_title": "CTO",
                                     **{f"statement_{n}": "on" for n in (1, 2, 3, 6)}}, follow=True)
        assert time.monotonic() - started < 10, "the POST waited on the broker"
        assert response.status_code == 200, response.content[:1000]
        assert all(status < 500 for _url, status in response.redirect_chain)
        assert "Application submitted" in response.content.decode()
        app.refresh_from_db()
        assert app.status == S.SUBMITTED
        assert app.revisions.get().attestation.signer_title == "CTO"
        rows = list(OutboxEmail.objects.filter(sent_at__isnull=True))
        assert rows, "the submission sends no email: nothing to check"

        emails = deliver_after_redis_returns(tmp_path / "worker", redis, rows)

    assert len(emails) == len(rows)
    assert recipients(emails) == Counter(r.to for r in rows)
    assert not OutboxEmail.objects.filter(sent_at__isnull=True).exists()


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_certificate_issued_while_redis_is_down_is_committed_and_emailed_once_after(tmp_path, settings, framework,
                                                                                    org, org_admin, staff):
    app = submitted_application(org, org_admin)
    applications.start_screening(app, staff)
    applications.accept_into_review(app, staff)
    applications.complete_review(app, staff)
    app.refresh_from_db()
    assert app.status == S.DECISION_PENDING and app.tier == 1
    mark_earlier_emails_sent()
    client = outage_client()
    client.force_login(staff)

    url = reverse("certification:application-approve", args=[app.pk])

    with redis_server() as redis, celery_broker(redis.url):
        private_redis_for_everything(settings, redis.url)
        # The staff member re-authenticates and reads the confirmation page while all is well...
        if client.get(url).status_code == 302:
            response = client.post(reverse("account_reauthenticate"), {"password": f.PASSWORD})
            assert response.status_code == 302, response.content[:500]
        page = client.get(url)
        assert page.status_code == 200, page.content[:500]
        # ...then Redis stops before they press the button.
        redis.stop()
        started = time.monotonic()
        response = client.post(url, hidden_fields(page.content.decode()))
        assert time.monotonic() - started < 10, "the POST waited on the broker"
        assert response.status_code == 302, response.content[:1000]
        app.refresh_from_db()
        assert app.status == S.CERTIFIED
        certificate = Certificate.objects.get(application=app)
        assert certificate.tier == 1
        page = client.get(response["Location"])
        assert page.status_code < 500
        rows = list(OutboxEmail.objects.filter(sent_at__isnull=True))
        assert rows, "issuing sends no email: nothing to check"

        emails = deliver_after_redis_returns(tmp_path / "worker", redis, rows)

    assert len(emails) == len(rows)
    assert recipients(emails) == Counter(r.to for r in rows)
    assert sum(certificate.number in e for e in emails) >= 1


# --- PostgreSQL restarted while the web serves and a worker sweeps --------------------------------


def outbox_state() -> dict[str, int]:
    rows = OutboxEmail.objects
    return {"claims": ReminderClaim.objects.count(), "rows": rows.count(),
            "sent": rows.filter(sent_at__isnull=False).count(),
            "claimed, unsent": rows.filter(sent_at__isnull=True, claimed_at__isnull=False).count()}


WEB_APPLICATION_NAME = "faults-web"


class DatabaseOutage:
    """Drop and refuse the connections to the test database on the shared server (see the docstring)."""

    def __init__(self):
        db = connection.settings_dict
        self.name = db["NAME"]
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self.own_pid = cursor.fetchone()[0]  # this test's connection: it counts, it is not the portal
        self.admin = psycopg.connect(
            host=db.get("HOST") or "127.0.0.1", port=db.get("PORT") or 5432, user=db.get("USER") or None,
            password=db.get("PASSWORD") or None, dbname="postgres", autocommit=True,
        )

    def drop_connections(self, application_name: str | None = None) -> int:
        """Terminate the sessions of the test database (only ``application_name``'s if given)."""
        rows = self.admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> %s"
            " AND (%s::text IS NULL OR application_name = %s)",
            [self.name, self.own_pid, application_name, application_name],
        ).fetchall()
        return len(rows)

    def start(self) -> int:
        self.admin.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false')
        return self.drop_connections()

    def end(self) -> None:
        self.admin.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true')

    def close(self) -> None:
        self.end()
        self.admin.close()


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_database_outage_answers_503_recovers_without_restart_and_loses_no_deadline_action(tmp_path, org_admin):
    """The reminders fall due once both processes are up: the sweep starts on beat's next tick, and
    the database goes away after its first batch committed."""
    # Small batches (DEADLINE_SWEEP_BATCH): some commit before the outage, the one running is cut
    # by it, and at the bulk sweep's pace the rest cannot all finish between two polls.
    batch, total = 50, 700
    session = Client()
    session.force_login(org_admin)
    cookies = {"sessionid": session.cookies["sessionid"].value}
    pages = ["/", reverse("portal:dashboard"), "/api/v1/releases/"]
    env = {**WORKER_ENV, "DEADLINE_SWEEP_SECONDS": "2", "OUTBOX_DRAIN_SECONDS": "2",
           "DEADLINE_SWEEP_BATCH": str(batch)}
    outage = DatabaseOutage()
    try:
        with celery_worker(tmp_path / "worker", beat=True, env=env) as worker, \
                web_server(tmp_path / "web", database_url=f"{current_database_url()}?application_name="
                                                         f"{WEB_APPLICATION_NAME}") as web:
            for path in pages:
                assert web.get(path, cookies=cookies).status == 200, path

            # 1. A restart between two requests: the web worker's persistent connection is dead;
            # the health check (CONN_HEALTH_CHECKS) replaces it and the next request does not notice.
            assert outage.drop_connections(WEB_APPLICATION_NAME) == 1
            for path in pages:
                answer = web.get(path, cookies=cookies)
                assert answer.status == 200, (path, answer)

            # 2. The database goes away in the middle of the sweep.
            ids = seed_due(total)  # one statement: the sweep sees all of them or none
            wait_for(lambda: ReminderClaim.objects.count() >= batch, 90, interval=0.02, what="the sweep to be under way")
            outage.start()
            committed = ReminderClaim.objects.count()
            assert committed < total, "the sweep finished before the outage: nothing was tested"
            assert committed % batch == 0, "a batch was half kept"
            answers = []
            until = time.monotonic() + 4
            while time.monotonic() < until:
                answers += [(path, web.get(path, cookies=cookies)) for path in pages]
            for path, answer in answers:
                assert answer.status == 503, (path, answer)
                assert answer.headers["retry-after"] == RETRY_AFTER
                if path.startswith("/api/"):
                    assert answer.headers["content-type"] == "application/json"
                    assert json.loads(answer.body)["code"] == "service_unavailable"
                else:
                    assert "briefly unavailable" in answer.body and "Traceback" not in answer.body
            # The sweep's transaction died with its connection: nothing of that batch was kept.
            assert ReminderClaim.objects.count() == committed

            # 3. The database is back: the same processes carry on.
            outage.end()
            for path in pages:
                answer = web.get(path, cookies=cookies)
                assert answer.status == 200, (path, answer)
            try:
                wait_for(lambda: OutboxEmail.objects.filter(sent_at__isnull=False).count() == total, 120,
                         interval=0.5, what="every reminder's email to be sent")
            except AssertionError as exc:
                raise AssertionError(f"{exc}: {outbox_state()}\n{worker.log()[-6000:]}") from None
            emails = worker.wait_for_emails(total, timeout=30)
            time.sleep(3)  # one more sweep and drain: nothing else may arrive
            emails = worker.emails()
            worker_log = worker.log()
            assert web.proc.poll() is None
            assert web.log().count("Booting worker") == 1, "the web worker was restarted"
            assert "503 for GET /dashboard/: the database is unavailable" in web.log()
    finally:
        outage.close()

    assert "OperationalError" in worker_log or "InterfaceError" in worker_log, "the outage never hit the worker"
    # Each deadline's reminder: one claim, one notification, one email. None lost, none twice.
    assert ReminderClaim.objects.count() == total
    assert Notification.objects.count() == total
    assert reminders_in(emails) == Counter({pk: 1 for pk in ids})
    assert len(emails) == total
