"""Write the static signed registry export (issue 15 §3; ``certification/certificates/export.py``).

    manage.py export_registry DIR [--full] [--keep N]

DIR is a local directory (default ``REGISTRY_EXPORT_DIR``): a static host or CDN serves it as it
is, or it is synced to a bucket. Each run writes a new version, carries unchanged files over by
hard link, signs the manifest last and then switches ``DIR/current.json``; older versions beyond
the last few are removed. Safe to run at any time, alongside the Celery task.
"""

from __future__ import annotations

import time
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from certification.certificates import export


class Command(BaseCommand):
    help = "Write the static signed registry export into DIR and publish it atomically."

    def add_arguments(self, parser):
        parser.add_argument("directory", nargs="?", type=Path,
                            help="where to write (default: the REGISTRY_EXPORT_DIR setting)")
        parser.add_argument("--full", action="store_true", help="write every file, ignoring the previous version")
        parser.add_argument("--keep", type=int, default=None,
                            help="complete versions to keep (default: REGISTRY_EXPORT_KEEP)")

    def handle(self, *args, directory: Path | None, full: bool, keep: int | None, **options):
        directory = directory or (Path(settings.REGISTRY_EXPORT_DIR) if settings.REGISTRY_EXPORT_DIR else None)
        if directory is None:
            raise CommandError("give DIR, or set REGISTRY_EXPORT_DIR")
        if keep is not None and keep < 1:
            raise CommandError("--keep must be at least 1")
        if directory.exists() and not directory.is_dir():
            raise CommandError(f"{directory} is not a directory")
        started = time.perf_counter()
        try:
            result = export.export(directory, keep=keep, full=full)
        except ImproperlyConfigured as exc:
            raise CommandError(f"cannot sign the export: {exc}") from None
        except OSError as exc:
            raise CommandError(f"cannot write the export: {exc}") from None
        self.stdout.write(self.style.SUCCESS(
            f"published version {result.version}: {result.certificates} certificates, {result.written} files "
            f"written, {result.linked} carried over, {result.bytes / 1e6:.1f} MB, "
            f"{time.perf_counter() - started:.1f} s"
        ) + (f"; removed {', '.join(result.removed)}" if result.removed else ""))
