"""Print the artifact manifest of a local model directory (DESIGN §7).

    manage.py release_manifest /path/to/model > manifest.json

Upload the JSON on the release's artifacts page (or send it to the API). The
files are read in 1 MiB chunks, so multi-GB shards hash in constant memory;
progress goes to stderr, the manifest alone to stdout. Read-only: there is
nothing for a --dry-run to skip.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from certification.releases.manifest import PROGRESS_EVERY, build_manifest


def human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


class Command(BaseCommand):
    help = "Compute path, size and sha256 of every file in a model directory, as JSON on stdout."

    def add_arguments(self, parser):
        parser.add_argument("directory", type=Path, help="the local model directory")
        parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
        parser.add_argument(
            "--progress-mib", type=int, default=PROGRESS_EVERY // (1024 * 1024),
            help="report progress every this many MiB of a file (default 256)",
        )

    def handle(self, *args, directory: Path, quiet: bool, progress_mib: int, **options):
        if not directory.is_dir():
            raise CommandError(f"{directory} is not a directory")
        if progress_mib < 1:
            raise CommandError("--progress-mib must be at least 1")

        def progress(path: str, done: int, total: int) -> None:
            self.stderr.write(f"{path}: {human(done)} / {human(total)}")

        manifest = build_manifest(directory, None if quiet else progress, progress_mib * 1024 * 1024)
        if not manifest["artifacts"]:
            self.stderr.write(self.style.WARNING(
                f"no files found under {directory} (names starting with a dot are skipped)"))
        elif not quiet:
            total = sum(a["size"] for a in manifest["artifacts"])
            self.stderr.write(f"{len(manifest['artifacts'])} files, {human(total)}")
        self.stdout.write(json.dumps(manifest, indent=2))
