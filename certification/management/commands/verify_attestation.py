"""Verify a certificate's attestation offline (DESIGN §7).

    manage.py verify_attestation ENVELOPE [--keys KEYS_JSON] [--revocations LIST] [--model-dir DIR]
    manage.py verify_attestation NUMBER --export URL_OR_DIR [--keys KEYS_JSON] [--model-dir DIR]

ENVELOPE is the signed DSSE envelope (``/registry/<number>/attestation.json``).
KEYS_JSON is the body of ``GET /api/v1/keys/``, saved to a file; without it the
keys this portal publishes are used. LIST is the body of
``GET /api/v1/revocations/``. DIR holds the model files, compared with the
statement's subjects by sha256. With ``--export`` (the static registry export, served by any
static host, or a local copy) the first argument is the certificate number, and the keys, the
revocation list (signed, and not past its ``next_update``) and the attestation all come from
the export, checked against its signed manifest; ``--keys`` pins the keys instead.
Needs no database; exits 1 when any check fails.
"""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from certification.certificates import keys as certificate_keys
from certification.certificates import offline


class Command(BaseCommand):
    help = "Check an attestation envelope against the published keys, a revocation list and a model directory."
    requires_system_checks: list = []

    def add_arguments(self, parser):
        parser.add_argument("envelope", help="the attestation file; with --export, the certificate number")
        parser.add_argument("--export", help="URL or directory of a static registry export (export_registry)")
        parser.add_argument("--keys", type=Path, help="keys JSON as served by /api/v1/keys/")
        parser.add_argument("--revocations", type=Path, help="signed revocation list from /api/v1/revocations/")
        parser.add_argument("--model-dir", type=Path, help="directory with the model files")

    def handle(self, *args, envelope: str, export: str | None, keys: Path | None, revocations: Path | None,
               model_dir: Path | None, **options):
        if model_dir is not None and not model_dir.is_dir():
            raise CommandError(f"{model_dir} is not a directory")
        if export:
            report = self._from_export(envelope, export, keys, revocations, model_dir)
        else:
            report = self._from_files(Path(envelope), keys, revocations, model_dir)
        for note in report.notes:
            self.stdout.write(f"ok: {note}")
        for problem in report.problems:
            self.stdout.write(self.style.ERROR(f"FAIL: {problem}"))
        if not report.ok:
            raise CommandError(f"certificate {report.number or '?'} does NOT verify")
        self.stdout.write(self.style.SUCCESS(f"certificate {report.number} verifies"))

    def _from_files(self, envelope: Path, keys: Path | None, revocations: Path | None, model_dir: Path | None):
        try:
            key_list = (offline.parse_keys(keys.read_bytes()) if keys
                        else certificate_keys.verification_keys())
        except (OSError, ValueError, KeyError, ImproperlyConfigured) as exc:
            raise CommandError(f"cannot read the keys: {exc}") from None
        try:
            data = envelope.read_bytes()
            revocation_data = revocations.read_bytes() if revocations else None
        except OSError as exc:
            raise CommandError(str(exc)) from None
        return offline.verify_offline(data, key_list, revocations=revocation_data, model_dir=model_dir)

    def _from_export(self, number: str, export: str, keys: Path | None, revocations: Path | None,
                     model_dir: Path | None):
        if revocations is not None:
            raise CommandError("--revocations does not go with --export: the export's signed list is used")
        try:
            key_list = offline.parse_keys(keys.read_bytes()) if keys else None
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read the keys: {exc}") from None
        try:
            source = offline.ExportSource(export)
        except offline.ExportError as exc:
            raise CommandError(f"--export: {exc}") from None
        return offline.verify_from_export(source, number, keys=key_list, model_dir=model_dir)
