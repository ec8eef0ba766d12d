"""The real processes, together (issue 15 §5): a production smoke test.

One set of processes for the whole module, started as deploy/ starts them (the ``ExecStart`` of
each unit) with the environment of deploy/portal.env.example and ``DEBUG=false``: gunicorn with 2
workers, a Celery worker and exactly one beat, against a fresh PostgreSQL database (migrated here by
``manage.py migrate``), a private ``redis-server``, moto's S3 server for the private files and an
SMTP relay on loopback that speaks STARTTLS and AUTH (tests/production/mail.py). Two things stand in
for nginx: gunicorn terminates TLS itself (for ``https://localhost:<port>``, a throw-away authority
that the processes and the clients trust through ``SSL_CERT_FILE``), and collectstatic's output is
served by WhiteNoise.

The story (``story`` below), all through HTTP with API tokens once an operator created the
accounts (tests/production/provision.py):

1. the README's integrator example ("Automating certification", run as written, as
   tests/certification/test_integrator_example.py does) registers a Tier 2 model and release,
   imports the model card, uploads the reports, and files the attestation, while this test plays
   the vulnerability contact who opens the link the worker emailed;
2. a staff member's token screens, accepts, completes the review and approves: a certificate;
3. the debounced task refreshes the static registry export;
4. due reminders are seeded, and the worker is killed with SIGKILL in the middle of beat's sweep;
   another worker starts and beat's next sweeps finish the work.

Then the tests check the certificate verifies (the API by sha256, the README's offline snippet,
``verify_attestation --export``), each email went out exactly once, the export names the new
certificate, and the evidence went to the bucket. The other tests hold deploy/ to the README.

``pytest -m smoke`` runs this module alone. Without PostgreSQL or ``redis-server`` it skips, under
``CI=true`` it fails. About 40 s on a 2-core machine (the budget is 90 s).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection, connections
from django.utils import timezone

from certification.certificates import export
from certification.certificates.models import Certificate
from certification.releases import evidence
from portal.models import Deadline, Notification, OutboxEmail, ReminderClaim
from tests.celery_support import free_port, redis_server, stop_process_group, wait_for
from tests.certification.test_integrator_example import CONTACT, confirm_as_the_contact, readme_example, release_dir
from tests.certification.test_offline_verify import run_snippet
from tests.conftest import require
from tests.portal.test_object_storage import CREDENTIALS, s3_endpoint  # noqa: F401 - the fixture
from tests.portal.test_production_checks import exported_names, generate_key, readme_block
from tests.production.mail import SmtpSink, Tls, make_tls

pytestmark = [pytest.mark.smoke, pytest.mark.slow]

BASE_DIR = Path(settings.BASE_DIR)
README = BASE_DIR / "README.md"
DEPLOY = BASE_DIR / "deploy"
ENV_EXAMPLE = DEPLOY / "portal.env.example"
NGINX_SITE = DEPLOY / "nginx" / "portal.conf"
SRV = "/srv/portal"
APP = f"{SRV}/app"
VENV_BIN = Path(sys.executable).parent

# --- the environment: deploy/portal.env.example --------------------------------------------------

ASSIGNMENT = re.compile(r"^(#?)([A-Z][A-Z0-9_]*)=(.*)$")
# The optional variables of the env file (``#NAME=``) the smoke test turns on, and why:
OPTIONAL = {
    # the private files in moto's bucket rather than a directory (several machines' choice)
    "STORAGE_URL", "STORAGE_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION",
    "EMAIL_PORT",  # the relay's free port
    "PORTAL_VAR_DIR",  # beat's schedule in the test's folder
    # seconds where production waits minutes
    "DEADLINE_SWEEP_SECONDS", "DEADLINE_SWEEP_BATCH", "OUTBOX_DRAIN_SECONDS", "REGISTRY_EXPORT_DEBOUNCE_SECONDS",
}
REPLACED = {"PRIVATE_STORAGE_ROOT"}  # by STORAGE_URL, as the env file says
# Given to the processes besides the portal's variables: the test's TLS authority, unbuffered logs.
PLUMBING = {"PATH", "PYTHONUNBUFFERED", "SSL_CERT_FILE"}

SWEEP_BATCH = 50
DUE_REMINDERS = 12 * SWEEP_BATCH
WEB_WORKERS = 2
DB = "smoke"  # this process's alias of the fresh database (it reads and seeds; the portal does the rest)


def env_example() -> tuple[dict[str, str], dict[str, str]]:
    """(active, optional) assignments of deploy/portal.env.example, in systemd's EnvironmentFile format."""
    active: dict[str, str] = {}
    optional: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if match := ASSIGNMENT.match(line):
            value = match[3]
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            target = optional if match[1] else active
            assert match[2] not in active and match[2] not in optional, f"{match[2]} twice in {ENV_EXAMPLE.name}"
            target[match[2]] = value
    return active, optional


def production_env(srv: Path, *, site: str, database_url: str, redis_url: str, smtp_port: int, endpoint: str,
                   bucket: str) -> dict[str, str]:
    """The env file's variables (and the optional ones the test turns on), with /srv/portal moved to
    ``srv`` and the services, hosts and secrets replaced by the test's: nothing else."""
    active, optional = env_example()
    values = {**active, **{name: optional[name] for name in OPTIONAL}}
    for name in REPLACED:
        del values[name]
    values = {name: value.replace(SRV, str(srv)) for name, value in values.items()}
    host = urlsplit(site).hostname
    overrides = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": host, "CSRF_TRUSTED_ORIGINS": site, "SITE_URL": site,
        "DATABASE_URL": database_url, "REDIS_URL": redis_url,
        "EMAIL_HOST": host, "EMAIL_PORT": str(smtp_port), "EMAIL_HOST_PASSWORD": secrets.token_urlsafe(12),
        "STORAGE_URL": f"s3://{bucket}/files", "STORAGE_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "DEADLINE_SWEEP_SECONDS": "2", "DEADLINE_SWEEP_BATCH": str(SWEEP_BATCH), "OUTBOX_DRAIN_SECONDS": "2",
        "REGISTRY_EXPORT_DEBOUNCE_SECONDS": "2",
    }
    assert set(overrides) <= set(values), "the smoke test sets a variable deploy/portal.env.example does not list"
    return {**values, **overrides}


def unit_command(unit: str, **options: str) -> list[str]:
    """The ``ExecStart`` of ``deploy/<unit>`` as this checkout runs it: the virtualenv's program, and
    ``--option value`` replaced (or added) for each of ``options``."""
    lines = [line for line in (DEPLOY / unit).read_text().splitlines() if line.startswith("ExecStart=")]
    assert len(lines) == 1, f"{unit} has one ExecStart"
    argv = shlex.split(lines[0].removeprefix("ExecStart="))
    assert argv[0].startswith(f"{APP}/.venv/bin/"), argv[0]
    argv[0] = str(VENV_BIN / Path(argv[0]).name)
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    return argv


def manage(*args: str) -> list[str]:
    return [sys.executable, "manage.py", *args]


# --- deploy/ agrees with the README (no services needed) -------------------------------------------


def test_env_example_lists_exactly_the_readme_production_variables():
    active, _optional = env_example()
    lines, _command = readme_block()
    readme = exported_names(lines)
    assert sorted(set(active) - set(readme)) == [], "deploy/portal.env.example sets variables the README does not"
    assert sorted(set(readme) - set(active)) == [], "the README exports variables deploy/portal.env.example lacks"


def test_env_example_optional_variables_are_documented_in_the_readme():
    _active, optional = env_example()
    text = README.read_text()
    assert optional, "no optional variable: the smoke test's choices would not be in the file"
    assert [name for name in optional if f"`{name}`" not in text] == []


def test_smoke_environment_is_the_env_example(tmp_path):
    active, optional = env_example()
    env = production_env(tmp_path, site="https://localhost:8443", database_url="postgres://db/x",
                         redis_url="redis://r:1/0", smtp_port=2525, endpoint="http://127.0.0.1:1", bucket="b")
    assert set(env) == (set(active) - REPLACED) | OPTIONAL
    assert OPTIONAL <= set(optional)
    assert env["DEBUG"] == "false"
    assert not [value for value in env.values() if SRV in value]


def nginx_site() -> str:
    return NGINX_SITE.read_text()


def test_nginx_site_serves_what_the_env_example_and_the_web_unit_say():
    active, _optional = env_example()
    site = nginx_site()
    web = unit_command("portal-web.service")
    assert f"server {web[web.index('--bind') + 1]};" in site, "nginx proxies to the web unit's address"
    root = re.search(r"location /static/ \{\s*root (\S+);", site)[1]
    assert f"{root}/static" == active["STATIC_ROOT"]
    assert f"root {active['REGISTRY_EXPORT_DIR']};" in site
    megabytes = int(re.search(r"client_max_body_size (\d+)m;", site)[1])
    # Above the evidence limit (the multipart envelope adds a little), not far above it.
    assert evidence.max_size() < megabytes * 1024 * 1024 <= evidence.max_size() + 2 * 1024 * 1024
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in site and active["BEHIND_PROXY"] == "true"
    assert "location = /current.json" in site and "immutable" in site


def test_units_run_the_readme_processes_with_one_beat():
    units = sorted(p.name for p in DEPLOY.glob("*.service"))
    assert units == ["portal-beat.service", "portal-export.service", "portal-web.service", "portal-worker.service"]
    assert unit_command("portal-web.service")[1] == "portal.wsgi"
    assert unit_command("portal-worker.service")[1:4] == ["-A", "portal", "worker"]
    assert unit_command("portal-beat.service")[1:4] == ["-A", "portal", "beat"]
    assert "worker --beat" not in " ".join(unit_command("portal-worker.service")), "beat runs in its own unit only"
    for unit in units:
        assert "EnvironmentFile=/etc/portal/portal.env" in (DEPLOY / unit).read_text(), unit
    assert "OnUnitInactiveSec=" in (DEPLOY / "portal-export.timer").read_text()


# --- the processes ---------------------------------------------------------------------------------


@dataclass
class Process:
    name: str
    proc: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def running(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
        return True


@dataclass
class Stack:
    """The services, the processes and how to reach them."""

    folder: Path
    site: str
    env: dict[str, str]
    tls: Tls
    sink: SmtpSink
    bucket: str
    s3: object
    accounts: dict = field(default_factory=dict)
    processes: list[Process] = field(default_factory=list)

    def child_env(self) -> dict[str, str]:
        return {"PATH": os.environ["PATH"], "PYTHONUNBUFFERED": "1", "SSL_CERT_FILE": str(self.tls.ca), **self.env}

    def start(self, name: str, cmd: list[str]) -> Process:
        log_path = self.folder / f"{name}.log"
        with open(log_path, "wb") as log_file:
            proc = subprocess.Popen(cmd, cwd=BASE_DIR, env=self.child_env(), stdin=subprocess.DEVNULL,
                                    stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        process = Process(name, proc, log_path)
        self.processes.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.log()[-3000:]}" for p in self.processes)

    def request(self, method: str, path: str, *, token: str = "", body: dict | None = None):
        """(status, headers, body) of one HTTPS request; any status is an answer."""
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        req = urllib.request.Request(self.site + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30, context=self.tls.client_context()) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()

    def api(self, method: str, path: str, **kwargs) -> dict:
        status, _headers, body = self.request(method, path, **kwargs)
        assert 200 <= status < 300, f"{method} {path}: {status} {body[:2000]!r}"
        return json.loads(body)


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """A new, empty database beside the test database (dropped afterwards); yields its URL."""
    db = connection.settings_dict
    base = re.sub(r"^test_", "", urlsplit(os.environ["DATABASE_URL"]).path.lstrip("/") or "portal")
    name = f"test_{base}_production"
    admin = psycopg.connect(host=db.get("HOST") or "127.0.0.1", port=db.get("PORT") or 5432,
                            user=db.get("USER") or None, password=db.get("PASSWORD") or None, dbname="postgres",
                            autocommit=True)
    try:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # a run that was killed
        admin.execute(f'CREATE DATABASE "{name}"')
        connections.settings[DB] = {**db, "NAME": name}
        url = urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{name}").geturl()
        try:
            yield url
        finally:
            if DB in connections:
                connections[DB].close()
                del connections[DB]
            del connections.settings[DB]
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


def wait_until_running(stack: Stack, process: Process, ready, what: str, timeout: float = 60) -> None:
    try:
        wait_for(lambda: process.running() and ready(), timeout, interval=0.1, what=what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{stack.logs()}") from None


def web_answers(stack: Stack) -> bool:
    try:
        return stack.request("GET", "/healthz")[0] == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def stack(request, tmp_path_factory, django_db_blocker):
    """Services up, the database migrated, gunicorn, a worker and beat running; the accounts made."""
    require(connection.vendor == "postgresql", "needs PostgreSQL: set DATABASE_URL")
    require(shutil.which("redis-server") is not None, "needs redis-server on PATH (a private Redis)")
    folder = tmp_path_factory.mktemp("smoke")
    tls = make_tls(folder / "tls")
    endpoint = request.getfixturevalue("s3_endpoint")
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    bucket = f"portal-smoke-{secrets.token_hex(4)}"
    s3.create_bucket(Bucket=bucket)
    port = free_port()
    site = f"https://localhost:{port}"
    environ = pytest.MonkeyPatch()
    # The contact's browser (confirm_as_the_contact) trusts the test's authority, as the processes do.
    environ.setenv("SSL_CERT_FILE", str(tls.ca))
    with contextlib.ExitStack() as services, django_db_blocker.unblock():
        services.callback(environ.undo)
        redis = services.enter_context(redis_server())
        sink = services.enter_context(SmtpSink(tls))
        database_url = services.enter_context(fresh_database())
        srv = folder / "srv"
        env = production_env(srv, site=site, database_url=database_url, redis_url=redis.url, smtp_port=sink.port,
                             endpoint=endpoint, bucket=bucket)
        generate_key(Path(env["SIGNING_KEY_FILE"]))
        generate_key(Path(env["MODEL_SIGNING_KEY_FILE"]), ec.generate_private_key(ec.SECP256R1()))
        Path(env["SIGNING_KEYS_DIR"]).mkdir(parents=True, exist_ok=True)
        stack = Stack(folder, site, env, tls, sink, bucket, s3)
        services.callback(lambda: [stop_process_group(p.proc) for p in reversed(stack.processes)])

        # README "Running in production": migrate and collectstatic (side by side: one needs only files).
        setup = [stack.start("migrate", manage("migrate", "--noinput")),
                 stack.start("collectstatic", manage("collectstatic", "--noinput", "-v0"))]
        for step in setup:
            assert step.proc.wait(timeout=120) == 0, f"{step.name} failed:\n{step.log()[-4000:]}"
        stack.processes.clear()

        provision = subprocess.Popen(
            manage("shell", "-c", "from tests.production.provision import main; main()"), cwd=BASE_DIR,
            env=stack.child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        web = stack.start("web", unit_command("portal-web.service", workers=str(WEB_WORKERS),
                                              bind=f"127.0.0.1:{port}", certfile=str(tls.cert),
                                              keyfile=str(tls.key)))
        beat = stack.start("beat", unit_command("portal-beat.service"))
        worker = stack.start("worker-a", worker_command())
        out, err = provision.communicate(timeout=120)
        assert provision.returncode == 0, err[-4000:]
        stack.accounts = json.loads(out.strip().splitlines()[-1])
        wait_until_running(stack, web, lambda: web_answers(stack), "gunicorn to answer over TLS")
        wait_until_running(stack, worker, lambda: " ready." in worker.log(), "the worker to be ready")
        wait_until_running(stack, beat, lambda: "beat: Starting..." in beat.log(), "beat to start")
        yield stack


def worker_command() -> list[str]:
    # One pool process: the kill lands in the sweep, never in an SMTP conversation (a worker killed
    # between sending an email and marking it sent leaves it for the drain after the claim timeout).
    return unit_command("portal-worker.service", concurrency="1")


# --- the story -------------------------------------------------------------------------------------


@dataclass
class Story:
    stack: Stack
    number: str
    digest: str
    model_dir: Path
    claimed_at_kill: int
    notified_at_kill: int
    worker_logs: list[str]


def reminder_claims() -> int:
    return ReminderClaim.objects.using(DB).filter(deadline__kind="certificate_expiry").count()


def run_integrator_example(stack: Stack) -> str:
    """README "Automating certification" as written, answering the contact's email on the way."""
    tokens = stack.accounts["tokens"]
    script = stack.folder / "file_release.py"
    script.write_text(readme_example())
    env = {"PATH": os.environ["PATH"], "SSL_CERT_FILE": str(stack.tls.ca), "PORTAL_URL": stack.site,
           "PORTAL_TOKEN": tokens["write"], "PORTAL_ATTEST_TOKEN": tokens["attest"],
           "PORTAL_ORG": stack.accounts["org"], "SECURITY_CONTACT": CONTACT,
           "RELEASE_DIR": str(release_dir(stack.folder)), "POLL_SECONDS": "0.2"}
    child = subprocess.Popen([sys.executable, str(script)], env=env, cwd=stack.folder, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        confirmed = False
        while child.poll() is None and time.monotonic() < deadline:
            if not confirmed and (mails := stack.sink.to(CONTACT)):
                confirm_as_the_contact(stack.site, mails[0].text)  # the worker emailed it over SMTP
                confirmed = True
            time.sleep(0.1)
        out, err = child.communicate(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, f"stdout:\n{out}\nstderr:\n{err}\n{stack.logs()}"
    assert "Tier 2" in out
    return re.search(r"Application (\d+): submitted", out)[1]


@pytest.fixture(scope="module")
def story(stack) -> Story:
    try:
        return tell(stack)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{stack.logs()}") from None


def tell(stack: Stack) -> Story:
    # 1. From registration to a filed attestation, with the organization's tokens.
    application = run_integrator_example(stack)

    # 2. Staff, with a staff token: screening, review, approval.
    for step in ("screen", "accept", "complete-review", "approve"):
        answer = stack.api("POST", f"/api/v1/applications/{application}/{step}/",
                           token=stack.accounts["tokens"]["staff"])
    assert answer["status"] == "certified", answer
    [certificate] = stack.api("GET", f"/api/v1/certificates/?organization={stack.accounts['org']}")["results"]
    number = certificate["number"]

    # 3. The debounced task publishes an export naming it.
    pointer = Path(stack.env["REGISTRY_EXPORT_DIR"]) / export.POINTER

    def exported() -> bool:
        if not pointer.exists():
            return False
        version = json.loads(pointer.read_bytes())["version"]
        return (pointer.parent / export.VERSIONS / version / export.certificate_path(number)).exists()

    wait_for(exported, 30, interval=0.1, what="the export to name the certificate")
    # Everything so far is delivered before the worker is killed (its emails are not this step's test).
    wait_for(lambda: not OutboxEmail.objects.using(DB).filter(sent_at__isnull=True).exists(), 30, interval=0.1,
             what="the story's emails to be sent")

    # 4. Due reminders; beat's sweep starts on its next tick, and the worker dies after the first batch.
    cert = Certificate.objects.using(DB).get(number=number)
    kind = ContentType.objects.db_manager(DB).get_for_model(Certificate)
    now = timezone.now()
    Deadline.objects.using(DB).bulk_create(  # one statement: a sweep sees all of them or none
        Deadline(content_type=kind, object_id=cert.pk, kind="certificate_expiry", due_at=now + timedelta(days=12),
                 next_action_at=now - timedelta(minutes=1)) for _ in range(DUE_REMINDERS))
    worker_a = next(p for p in stack.processes if p.name == "worker-a")
    wait_for(lambda: reminder_claims() >= SWEEP_BATCH, 30, interval=0.02, what="the sweep to be under way")
    stop_process_group(worker_a.proc, sig=signal.SIGKILL)
    claimed_at_kill = reminder_claims()
    notified_at_kill = Notification.objects.using(DB).filter(kind="certificate-expiry-reminder").count()

    worker_b = stack.start("worker-b", worker_command())
    wait_for(lambda: reminder_claims() == DUE_REMINDERS, 60, interval=0.2, what="every reminder to be claimed")
    wait_for(lambda: not OutboxEmail.objects.using(DB).filter(sent_at__isnull=True).exists(), 60, interval=0.2,
             what="every email to be sent")
    # Two more drains and sweeps after that: a duplicate would have had its chance.
    drains = worker_b.log().count("portal.tasks.drain_outbox[")
    wait_for(lambda: worker_b.log().count("portal.tasks.drain_outbox[") >= drains + 4, 30, interval=0.2,
             what="two more outbox drains")

    model_dir = stack.folder / "model"
    model_dir.mkdir()
    weights = b"weights" * 100  # release_dir()'s manifest lists this file
    (model_dir / "model.safetensors").write_bytes(weights)
    return Story(stack, number, hashlib.sha256(weights).hexdigest(), model_dir, claimed_at_kill, notified_at_kill,
                 [worker_a.log(), worker_b.log()])


# --- what the story must have left -----------------------------------------------------------------


def test_the_certificate_verifies_by_sha256_and_offline(story, tmp_path):
    stack = story.stack
    answer = stack.api("GET", f"/api/v1/verify/?sha256={story.digest}")
    assert answer["verified"] is True and answer["status"] == "valid"
    assert [c["number"] for c in answer["certificates"]] == [story.number]

    files = {}
    for name, path in (("cert.json", f"/registry/{story.number}/attestation.json"), ("keys.json", "/api/v1/keys/"),
                       ("revocations.json", "/api/v1/revocations/")):
        status, _headers, body = stack.request("GET", path)
        assert status == 200, (path, body[:500])
        files[name] = tmp_path / name
        files[name].write_bytes(body)
    # The README's standalone snippet: nothing but Python and cryptography.
    done = run_snippet(tmp_path, files["cert.json"], files["keys.json"], files["revocations.json"], story.model_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    assert story.number in done.stdout
    # And from the static export alone, with the keys pinned from the portal.
    out = call_command_output("verify_attestation", story.number, "--export", stack.env["REGISTRY_EXPORT_DIR"],
                              "--keys", str(files["keys.json"]), "--model-dir", str(story.model_dir))
    assert f"certificate {story.number} verifies" in out


def call_command_output(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_each_email_went_out_exactly_once(story):
    stack = story.stack
    rows = list(OutboxEmail.objects.using(DB).select_related("notification"))
    assert rows and all(row.sent_at and not row.failed_at for row in rows)
    received = stack.sink.received
    # One SMTP message per outbox row, to its recipient with its subject; nothing else.
    assert Counter((m.recipients, m.subject) for m in received) == Counter(((r.to,), r.subject) for r in rows)
    assert all(m.tls and m.user == stack.env["EMAIL_HOST_USER"] for m in received)
    assert len(stack.sink.to(CONTACT)) == 1
    reminders = [r for r in rows if r.notification and r.notification.kind == "certificate-expiry-reminder"]
    assert len(reminders) == DUE_REMINDERS
    assert any(story.number in m.text for m in stack.sink.to(stack.accounts["admin"]))  # the certificate's own


def test_a_worker_killed_mid_sweep_lost_and_repeated_nothing(story):
    assert SWEEP_BATCH <= story.claimed_at_kill < DUE_REMINDERS, "the kill was not in the middle of the sweep"
    # The batch that was running rolled back whole: each claim kept has its notification.
    assert story.notified_at_kill == story.claimed_at_kill
    claims = ReminderClaim.objects.using(DB).filter(deadline__kind="certificate_expiry")
    assert claims.count() == claims.values("deadline").distinct().count() == DUE_REMINDERS
    assert Notification.objects.using(DB).filter(kind="certificate-expiry-reminder").count() == DUE_REMINDERS
    assert "sweep_deadlines" in story.worker_logs[0] and "sweep_deadlines" in story.worker_logs[1]


def test_the_export_was_refreshed_by_the_debounced_task(story):
    root = Path(story.stack.env["REGISTRY_EXPORT_DIR"])
    version = json.loads((root / export.POINTER).read_bytes())["version"]
    record = json.loads((root / export.VERSIONS / version / export.certificate_path(story.number)).read_bytes())
    assert record["number"] == story.number and record["status"] == "valid"
    portal = story.stack.api("GET", f"/api/v1/certificates/{story.number}/")
    assert record["attestation"] == portal["attestation"]
    assert re.search(r"certification\.certificates\.tasks\.refresh_registry_export\[[^\]]+\] succeeded",
                     story.worker_logs[0])


def test_the_evidence_went_to_the_bucket(story):
    listing = story.stack.s3.list_objects_v2(Bucket=story.stack.bucket, Prefix="files/evidence/")
    assert len(listing.get("Contents", [])) == 2  # the two Tier 2 reports


def test_the_processes_ran_as_in_production(story):
    stack = story.stack
    web = next(p for p in stack.processes if p.name == "web")
    assert web.log().count("Booting worker") == WEB_WORKERS, "a web worker was restarted"
    assert len([p for p in stack.processes if p.name == "beat"]) == 1
    for process in stack.processes:
        assert "Traceback" not in process.log(), f"{process.name}:\n{process.log()[-4000:]}"
    status, headers, body = stack.request("GET", "/no-such-page/")
    assert status == 404 and b"URLconf" not in body  # DEBUG is off
    assert headers["Strict-Transport-Security"].startswith("max-age=")
