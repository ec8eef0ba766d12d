"""Rotate the certificate signing key, or with ``--model-signing`` the model-signing key (DESIGN §7).

The old key's public part moves into the keys directory, valid until now, so
certificates (or model-signing bundles) it signed stay verifiable; the new key
signs from now on. See ``certification/certificates/keys.py`` for the files involved.
"""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from certification.certificates import keys


class Command(BaseCommand):
    help = "Replace the signing key, keeping the old public key published for verification."

    def add_arguments(self, parser):
        parser.add_argument(
            "--keys-dir",
            type=Path,
            help="directory of retired public keys (default: SIGNING_KEYS_DIR; for --model-signing "
                 f"its {keys.MODEL_KEYS_SUBDIR}/ subdirectory)",
        )
        parser.add_argument("--model-signing", action="store_true",
                            help="rotate the ECDSA P-256 key of the model-signing bundles instead")
        parser.add_argument("--dry-run", action="store_true", help="show what would change, change nothing")

    def handle(self, *args, keys_dir: Path | None, model_signing: bool, dry_run: bool, **options):
        configured = keys.model_keys_dir() if model_signing else keys.keys_dir()
        directory = keys_dir or configured
        if directory is None:
            raise CommandError("set SIGNING_KEYS_DIR (or pass --keys-dir): retired keys must stay published")
        if configured is None or directory.resolve() != configured.resolve():
            where = f"SIGNING_KEYS_DIR/{keys.MODEL_KEYS_SUBDIR}" if model_signing else "SIGNING_KEYS_DIR"
            self.stderr.write(
                self.style.WARNING(f"{where} must point to {directory} for the old key to stay published")
            )
        what = "model-signing key" if model_signing else "signing key"
        variable = "MODEL_SIGNING_KEY" if model_signing else "SIGNING_KEY"
        try:
            key_file = keys.configured_model_key_file() if model_signing else keys.configured_key_file()
            if key_file is None:
                raise ImproperlyConfigured(f"the {what} comes from {variable}; use {variable}_FILE to rotate")
            if dry_run:
                if key_file.exists():
                    _, old_id = keys.load_model_signing_key() if model_signing else keys.load_signing_key()
                    self.stdout.write(f"would retire {old_id} into {directory}")
                self.stdout.write(f"would write a new {what} to {key_file}")
                return
            rotate = keys.rotate_model_key if model_signing else keys.rotate_key
            new_id = rotate(directory, key_file)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"new {what} {new_id} (read on each use, no restart needed)"))
