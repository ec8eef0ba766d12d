"""Verify a certificate's attestation offline (DESIGN §7).

    manage.py verify_attestation ENVELOPE [--keys KEYS_JSON] [--revocations LIST] [--model-dir DIR]

ENVELOPE is the signed DSSE envelope (``/registry/<number>/attestation.json``).
KEYS_JSON is the body of ``GET /api/v1/keys/``, saved to a file; without it the
keys this portal publishes are used. LIST is the body of
``GET /api/v1/revocations/``. DIR holds the model files, compared with the
statement's subjects by sha256. Needs no database; exits 1 when any check fails.
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
        parser.add_argument("envelope", type=Path)
        parser.add_argument("--keys", type=Path, help="keys JSON as served by /api/v1/keys/")
        parser.add_argument("--revocations", type=Path, help="signed revocation list from /api/v1/revocations/")
        parser.add_argument("--model-dir", type=Path, help="directory with the model files")

    def handle(self, *args, envelope: Path, keys: Path | None, revocations: Path | None, model_dir: Path | None,
               **options):
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
        if model_dir is not None and not model_dir.is_dir():
            raise CommandError(f"{model_dir} is not a directory")
        report = offline.verify_offline(data, key_list, revocations=revocation_data, model_dir=model_dir)
        for note in report.notes:
            self.stdout.write(f"ok: {note}")
        for problem in report.problems:
            self.stdout.write(self.style.ERROR(f"FAIL: {problem}"))
        if not report.ok:
            raise CommandError(f"certificate {report.number or '?'} does NOT verify")
        self.stdout.write(self.style.SUCCESS(f"certificate {report.number} verifies"))
