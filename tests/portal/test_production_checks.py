"""Production configuration fails at start, not at request (portal/checks.py).

The README's production environment (Configuration) is run as written, in a subprocess
with nothing else in its environment (``/srv/portal`` moved to a temporary directory and
``.venv/bin/python`` to this interpreter): with a generated signing key ``check --deploy
--fail-level WARNING`` passes; without it, or without any other variable production needs,
``check``, the WSGI application, gunicorn, the Celery worker and beat and ``runportal``
refuse to start and name the variable. Each of the portal's checks is also exercised
in-process (the signing key's: tests/certification/test_signing_key_check.py).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.checks import run_checks

from certification.certificates import keys
from certification.certificates.checks import check_signing_key
from portal import checks

BASE_DIR = Path(__file__).resolve().parents[2]
README = BASE_DIR / "README.md"
SRV = "/srv/portal"
CHECK_COMMAND = ".venv/bin/python manage.py check --deploy --fail-level WARNING"

# Every variable a production deployment sets; the README's block must export exactly these.
PRODUCTION_VARIABLES = {
    "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "SITE_URL", "BEHIND_PROXY",
    "DATABASE_URL", "REDIS_URL", "EMAIL_HOST", "EMAIL_HOST_USER", "EMAIL_HOST_PASSWORD",
    "DEFAULT_FROM_EMAIL", "PRIVATE_STORAGE_ROOT", "SIGNING_KEY_FILE", "SIGNING_KEYS_DIR", "MODEL_SIGNING_KEY_FILE",
    "STATIC_ROOT", "REGISTRY_EXPORT_DIR",
}
# What each missing variable is reported as.
MISSING = {
    "SITE_URL": "portal.E001",
    "EMAIL_HOST": "portal.E003",
    "DEFAULT_FROM_EMAIL": "portal.E005",
    "REDIS_URL": "portal.E006",
    "DATABASE_URL": "portal.E007",
    "PRIVATE_STORAGE_ROOT": "portal.E008",
    "SIGNING_KEY_FILE": "certification.E001",
    "MODEL_SIGNING_KEY_FILE": "certification.E004",
}


# --- the README's block ------------------------------------------------------------------


def readme_block() -> tuple[list[str], str]:
    """(export lines, command) of the production environment block of README: Configuration."""
    section = README.read_text().split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    blocks = [b for b in re.findall(r"```sh\n(.*?)```", section, re.S) if CHECK_COMMAND in b]
    assert len(blocks) == 1, "README: Configuration must hold one block ending with the check command"
    lines = [line for line in blocks[0].splitlines() if line.strip()]
    return lines[:-1], lines[-1]


def exported_names(lines: list[str]) -> list[str]:
    names = []
    for line in lines:
        words = shlex.split(line)
        assert words[0] == "export", f"the block sets its environment with export lines only: {line!r}"
        names += [word.split("=", 1)[0] for word in words[1:]]
    return names


def readme_environment(srv: Path) -> dict[str, str]:
    """The environment the README's export lines produce (evaluated by bash), and nothing else."""
    lines, _command = readme_block()
    script = "set -eu\n" + "\n".join(lines).replace(SRV, str(srv)) + "\nenv -0\n"
    done = subprocess.run(["bash", "-c", script], env={"PATH": os.environ["PATH"]}, capture_output=True,
                          timeout=30, check=True)
    dumped = dict(item.split("=", 1) for item in done.stdout.decode().split("\0") if "=" in item)
    return {name: dumped[name] for name in exported_names(lines)}


def generate_key(path: Path, key=None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(keys.private_key_pem(key or Ed25519PrivateKey.generate()))
    path.chmod(0o600)


@pytest.fixture
def production(tmp_path) -> dict[str, str]:
    """The README's environment with its signing keys generated where it says."""
    env = readme_environment(tmp_path / "srv")
    generate_key(Path(env["SIGNING_KEY_FILE"]))
    generate_key(Path(env["MODEL_SIGNING_KEY_FILE"]), ec.generate_private_key(ec.SECP256R1()))
    return env


def run(cmd: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``cmd`` in the project directory with exactly ``env`` (plus PATH); a process that does
    not exit (it started after all) is killed with its group and fails the test."""
    proc = subprocess.Popen(cmd, cwd=BASE_DIR, env={"PATH": os.environ["PATH"], **env}, text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{' '.join(cmd)} did not exit within {timeout} s (it started):\n{out[-3000:]}\n{err[-3000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def without(env: dict[str, str], *names: str) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in names}


def manage(*args: str) -> list[str]:
    return [sys.executable, "manage.py", *args]


def test_readme_block_exports_every_variable_production_needs():
    lines, command = readme_block()
    names = exported_names(lines)
    assert len(names) == len(set(names))
    assert set(names) == PRODUCTION_VARIABLES
    assert command == CHECK_COMMAND


def test_readme_production_environment_with_a_key_passes_check_deploy(production):
    _lines, command = readme_block()
    argv = shlex.split(command)
    assert argv[0] == ".venv/bin/python"
    done = run([sys.executable, *argv[1:]], production)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "System check identified no issues (0 silenced)."
    assert done.stderr == ""


def readme_setup_lines() -> list[str]:
    """The lines of README: Running in production that create the directories and the keys."""
    section = README.read_text().split("\n## Running in production\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    lines = [line for line in block.splitlines() if line.startswith(("mkdir ", "test -e "))]
    assert len(lines) == 3 and '"$SIGNING_KEY_FILE"' in lines[1] and '"$MODEL_SIGNING_KEY_FILE"' in lines[2], block
    return lines


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl, as the README does")
def test_readme_creates_a_key_the_check_accepts_and_never_replaces_it(tmp_path, settings, monkeypatch):
    srv = tmp_path / "srv"
    env = readme_environment(srv)
    script = "set -eu\n" + "\n".join(readme_setup_lines()).replace(SRV, str(srv))
    key_files = [Path(env["SIGNING_KEY_FILE"]), Path(env["MODEL_SIGNING_KEY_FILE"])]
    subprocess.run(["bash", "-c", script], env={"PATH": os.environ["PATH"], **env}, check=True, timeout=30)
    first = [key_file.read_bytes() for key_file in key_files]
    subprocess.run(["bash", "-c", script], env={"PATH": os.environ["PATH"], **env}, check=True, timeout=30)
    assert [key_file.read_bytes() for key_file in key_files] == first  # run again, the keys stay
    assert all(key_file.stat().st_mode & 0o077 == 0 for key_file in key_files)
    assert Path(env["PRIVATE_STORAGE_ROOT"]).is_dir()
    settings.DEBUG = False
    monkeypatch.delenv("SIGNING_KEY")
    monkeypatch.delenv("MODEL_SIGNING_KEY")
    monkeypatch.setenv("SIGNING_KEY_FILE", str(key_files[0]))
    monkeypatch.setenv("MODEL_SIGNING_KEY_FILE", str(key_files[1]))
    monkeypatch.setenv("SIGNING_KEYS_DIR", env["SIGNING_KEYS_DIR"])
    assert check_signing_key() == []


@pytest.mark.parametrize("args", [["check"], ["check", "--deploy", "--fail-level", "WARNING"]],
                         ids=["check", "check-deploy"])
def test_without_the_signing_key_check_fails_naming_the_variable(production, args):
    done = run(manage(*args), without(production, "SIGNING_KEY_FILE"))
    assert done.returncode != 0
    assert "(certification.E001)" in done.stderr and "SIGNING_KEY_FILE" in done.stderr, done.stderr


def test_every_missing_production_variable_is_named(production):
    done = run(manage("check"), without(production, *MISSING))
    assert done.returncode != 0
    reported = dict(re.findall(r"\((\w+\.E\d{3})\) ([^\n]*)", done.stderr))
    for name, check_id in MISSING.items():
        assert name in reported.get(check_id, ""), f"{name} not reported as {check_id}:\n{done.stderr}"


# --- processes refuse to start -------------------------------------------------------------------


@pytest.mark.parametrize("key", [True, False], ids=["with-key", "without-key"])
def test_wsgi_application_loads_only_with_the_key(production, key):
    env = production if key else without(production, "SIGNING_KEY_FILE")
    done = run([sys.executable, "-c", "import portal.wsgi"], env)
    if key:
        assert done.returncode == 0, done.stderr
    else:
        assert done.returncode != 0
        assert "The web process refuses to start" in done.stderr
        assert "(certification.E001)" in done.stderr and "SIGNING_KEY_FILE" in done.stderr


def test_asgi_application_refuses_to_load_with_a_bad_site_url(production):
    done = run([sys.executable, "-c", "import portal.asgi"], {**production, "SITE_URL": "http://portal.example.org"})
    assert done.returncode != 0
    assert "(portal.E001)" in done.stderr and "SITE_URL" in done.stderr


@pytest.mark.slow
def test_gunicorn_refuses_to_start_without_the_key(production):
    gunicorn = Path(sys.executable).with_name("gunicorn")
    done = run([str(gunicorn), "portal.wsgi", "--workers", "1", "--bind", "127.0.0.1:0"],
               without(production, "SIGNING_KEY_FILE"), timeout=60)
    assert done.returncode != 0
    assert "Worker failed to boot" in done.stderr
    assert "(certification.E001)" in done.stderr and "SIGNING_KEY_FILE" in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("service", ["worker", "beat"])
def test_celery_refuses_to_start_without_the_key(production, tmp_path, service):
    # The broker host of the README does not resolve here: a worker that started would retry forever.
    cmd = [sys.executable, "-m", "celery", "-A", "portal", service, "--loglevel", "INFO"]
    if service == "beat":
        cmd += ["--schedule", str(tmp_path / "celerybeat-schedule")]
    done = run(cmd, without(production, "SIGNING_KEY_FILE"), timeout=60)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "refuses to start" in done.stderr
    assert "(certification.E001)" in done.stderr and "SIGNING_KEY_FILE" in done.stderr


@pytest.mark.slow
def test_runportal_refuses_to_start_when_debug_is_off(production, tmp_path):
    # --skip-checks: the command's own gate stops it, before any web server or worker starts.
    env = {**without(production, "SIGNING_KEY_FILE"), "PORTAL_VAR_DIR": str(tmp_path / "var")}
    done = run(manage("runportal", "--skip-checks", "--port", "0"), env, timeout=60)
    assert done.returncode != 0
    assert "The portal refuses to start" in done.stderr
    assert "(certification.E001)" in done.stderr and "SIGNING_KEY_FILE" in done.stderr
    assert "Portal running" not in done.stdout


# --- each check, in-process ------------------------------------------------------------------


@pytest.fixture
def prod(settings, tmp_path, monkeypatch):
    """Production-grade settings, as the README's environment makes them."""
    settings.DEBUG = False
    settings.SITE_URL = "https://portal.example.org"
    settings.ALLOWED_HOSTS = ["portal.example.org"]
    settings.EMAIL_BACKEND = checks.SMTP_EMAIL_BACKEND
    settings.EMAIL_HOST = "smtp.example.org"
    settings.EMAIL_USE_TLS, settings.EMAIL_USE_SSL = True, False
    settings.DEFAULT_FROM_EMAIL = "Certification Portal <noreply@portal.example.org>"
    settings.REDIS_URL = "redis://redis:6379/0"
    settings.DATABASE_URL = "postgres://portal@db:5432/portal"
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    monkeypatch.setenv("PRIVATE_STORAGE_ROOT", str(tmp_path / "private"))
    return settings


def ids(messages) -> list[str]:
    return [m.id for m in messages]


def test_production_settings_pass(prod):
    assert checks.check_production_settings() == []


def test_nothing_fires_with_debug_on(prod, monkeypatch):
    prod.SITE_URL, prod.REDIS_URL, prod.DATABASE_URL = "http://localhost:8000", "", ""
    prod.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    prod.DEFAULT_FROM_EMAIL = "noreply@localhost"
    prod.PRIVATE_STORAGE_ROOT = Path(prod.VAR_DIR) / "private"
    monkeypatch.delenv("PRIVATE_STORAGE_ROOT")
    assert len(checks.check_production_settings()) == 6
    prod.DEBUG = True
    assert checks.check_production_settings() == []


@pytest.mark.parametrize("url", ["http://portal.example.org", "portal.example.org", "https://", "https:///x",
                                 "https://portal.example.org/?next=/", "https://user@portal.example.org"])
def test_site_url_must_be_absolute_https(prod, url):
    prod.SITE_URL = url
    [error] = checks.check_production_settings()
    assert error.id == "portal.E001" and "SITE_URL" in error.msg


def test_site_url_host_must_be_allowed(prod):
    prod.SITE_URL = "https://elsewhere.example.org"
    [error] = checks.check_production_settings()
    assert error.id == "portal.E002" and "ALLOWED_HOSTS" in error.msg
    prod.SITE_URL = "https://portal.example.org:8443"
    assert checks.check_production_settings() == []


@pytest.mark.parametrize("backend", sorted(checks.NON_DELIVERING_EMAIL_BACKENDS))
def test_email_must_be_delivered(prod, backend):
    prod.EMAIL_BACKEND, prod.EMAIL_HOST = backend, ""
    [error] = checks.check_production_settings()
    assert error.id == "portal.E003" and "EMAIL_HOST" in error.msg


def test_smtp_needs_a_host(prod):
    prod.EMAIL_HOST = ""
    [error] = checks.check_production_settings()
    assert error.id == "portal.E003" and "EMAIL_HOST" in error.msg


def test_another_delivering_backend_is_accepted(prod):
    prod.EMAIL_BACKEND, prod.EMAIL_HOST = "anymail.backends.postmark.EmailBackend", ""
    assert checks.check_production_settings() == []


def test_tls_and_ssl_together_are_refused(prod):
    prod.EMAIL_USE_SSL = True
    [error] = checks.check_production_settings()
    assert error.id == "portal.E004" and "EMAIL_USE_SSL" in error.msg


@pytest.mark.parametrize("sender", ["Certification Portal <noreply@localhost>", "noreply", "",
                                    "noreply@portal.localhost"])
def test_sender_must_be_a_real_address(prod, sender):
    prod.DEFAULT_FROM_EMAIL = sender
    [error] = checks.check_production_settings()
    assert error.id == "portal.E005" and "DEFAULT_FROM_EMAIL" in error.msg


@pytest.mark.parametrize("url", ["", "amqp://rabbit:5672//", "filesystem://"])
def test_broker_must_be_redis(prod, url):
    prod.REDIS_URL = url
    [error] = checks.check_production_settings()
    assert error.id == "portal.E006" and "REDIS_URL" in error.msg


@pytest.mark.parametrize("url", ["rediss://redis:6380/0", "unix:///run/redis.sock"])
def test_broker_may_be_tls_or_a_socket(prod, url):
    prod.REDIS_URL = url
    assert checks.check_production_settings() == []


def test_database_url_is_required(prod):
    prod.DATABASE_URL = ""
    [error] = checks.check_production_settings()
    assert error.id == "portal.E007" and "DATABASE_URL" in error.msg


def test_private_storage_must_be_configured(prod, monkeypatch):
    monkeypatch.delenv("PRIVATE_STORAGE_ROOT")
    prod.PRIVATE_STORAGE_ROOT = Path(prod.VAR_DIR) / "private"
    [error] = checks.check_production_settings()
    assert error.id == "portal.E008" and "PRIVATE_STORAGE_ROOT" in error.msg
    # Set explicitly, even to the same place, it is a choice.
    monkeypatch.setenv("PRIVATE_STORAGE_ROOT", str(prod.PRIVATE_STORAGE_ROOT))
    assert "portal.E008" not in ids(checks.check_production_settings())


def test_private_storage_must_be_absolute(prod):
    prod.PRIVATE_STORAGE_ROOT = Path("var/private")
    [error] = checks.check_production_settings()
    assert error.id == "portal.E009" and "absolute" in error.msg


def test_private_storage_must_be_writable(prod, tmp_path):
    (tmp_path / "a-file").write_text("not a directory")
    prod.PRIVATE_STORAGE_ROOT = tmp_path / "a-file" / "private"
    [error] = checks.check_production_settings()
    assert error.id == "portal.E009" and "PRIVATE_STORAGE_ROOT" in error.msg
    prod.PRIVATE_STORAGE_ROOT = tmp_path / "not-yet" / "private"  # created on the first upload
    assert checks.check_production_settings() == []


def test_checks_are_registered_by_the_apps(prod, monkeypatch):
    prod.REDIS_URL = ""
    monkeypatch.delenv("SIGNING_KEY")
    found = ids(run_checks(tags=[checks.TAG]))
    assert "portal.E006" in found and "certification.E001" in found


def test_refuse_to_start_lists_every_error(prod):
    prod.REDIS_URL, prod.DATABASE_URL = "", ""
    with pytest.raises(checks.StartupCheckFailed) as raised:
        checks.refuse_to_start("The web process")
    text = str(raised.value)
    assert text.startswith("The web process refuses to start")
    assert "(portal.E006)" in text and "REDIS_URL" in text and "(portal.E007)" in text


def test_refuse_to_start_passes_a_good_configuration(prod, monkeypatch):
    # The browser tests set it for this process while their Playwright loop lives; a real web
    # process has no reason to (and async.E001 rightly refuses it).
    monkeypatch.delenv("DJANGO_ALLOW_ASYNC_UNSAFE", raising=False)
    checks.refuse_to_start("The web process")
