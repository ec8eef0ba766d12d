"""Rotate the certificate signing key (DESIGN §7).

The old key's public part moves into the keys directory, valid until now, so
certificates it signed stay verifiable; the new key signs from now on. See
``certification/keys.py`` for the files involved.
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
            help="directory of retired public keys (default: SIGNING_KEYS_DIR)",
        )
        parser.add_argument("--dry-run", action="store_true", help="show what would change, change nothing")

    def handle(self, *args, keys_dir: Path | None, dry_run: bool, **options):
        configured = keys.keys_dir()
        directory = keys_dir or configured
        if directory is None:
            raise CommandError("set SIGNING_KEYS_DIR (or pass --keys-dir): retired keys must stay published")
        if configured is None or directory.resolve() != configured.resolve():
            self.stderr.write(
                self.style.WARNING(f"SIGNING_KEYS_DIR must point to {directory} for the old key to stay published")
            )
        try:
            key_file = keys.configured_key_file()
            if key_file is None:
                raise ImproperlyConfigured("the signing key comes from SIGNING_KEY; use SIGNING_KEY_FILE to rotate")
            if dry_run:
                if key_file.exists():
                    _, old_id = keys.load_signing_key()
                    self.stdout.write(f"would retire {old_id} into {directory}")
                self.stdout.write(f"would write a new signing key to {key_file}")
                return
            new_id = keys.rotate_key(directory, key_file)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"new signing key {new_id} (read on each use, no restart needed)"))
