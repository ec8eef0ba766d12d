#!/usr/bin/env python3
"""Compute the artifact manifest of a local model directory, for the certification portal.

    python3 release_manifest.py /path/to/model > manifest.json

Then upload manifest.json on the release's "Artifacts" page (or send it to the API).

Standalone: Python 3.8 or later, standard library only; nothing else to install. It prints
the same JSON as the portal's own ``manage.py release_manifest``: every regular file under the
directory as {"path", "size", "sha256"}, relative POSIX paths sorted, sizes in bytes, lowercase
hex sha256. Names starting with a dot (.git, .cache, ...) are skipped; symlinked files are
followed (a Hub cache snapshot is made of them), symlinked directories are not. Files are read
in 1 MiB chunks, so multi-GB shards hash in constant memory; progress goes to stderr, the
manifest alone to stdout. The script only reads: it never writes or sends anything.
"""

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

CHUNK_SIZE = 1024 * 1024
PROGRESS_EVERY_MIB = 256


def human(n):
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def list_files(root):
    """Every regular file under root as (relative POSIX path, path), sorted by relative path."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            if path.is_file():
                found.append((path.relative_to(root).as_posix(), path))
    found.sort(key=lambda item: item[0])
    return found


def hash_file(path, label, progress, progress_every):
    """(size, sha256 hex) of a file, read in fixed chunks into one reused buffer."""
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    total = path.stat().st_size
    done = 0
    next_report = progress_every
    reported = -1
    with path.open("rb", buffering=0) as handle:
        while True:
            n = handle.readinto(buffer)
            if not n:
                break
            digest.update(view[:n])
            done += n
            if progress is not None and done >= next_report:
                progress(label, done, total)
                reported = done
                next_report = (done // progress_every + 1) * progress_every
    if progress is not None and reported != done:
        progress(label, done, max(total, done))
    return done, digest.hexdigest()


def build_manifest(root, progress=None, progress_every=PROGRESS_EVERY_MIB * 1024 * 1024):
    root = Path(root)
    artifacts = []
    for relative, path in list_files(root):
        size, sha256 = hash_file(path, relative, progress, progress_every)
        artifacts.append({"path": relative, "size": size, "sha256": sha256})
    return {"artifacts": artifacts}


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Compute path, size and sha256 of every file in a model directory, as JSON on stdout.")
    parser.add_argument("directory", type=Path, help="the local model directory")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument("--progress-mib", type=int, default=PROGRESS_EVERY_MIB,
                        help="report progress every this many MiB of a file (default 256)")
    args = parser.parse_args(argv)
    if not args.directory.is_dir():
        parser.exit(2, f"error: {args.directory} is not a directory\n")
    if args.progress_mib < 1:
        parser.exit(2, "error: --progress-mib must be at least 1\n")

    def progress(path, done, total):
        sys.stderr.write(f"{path}: {human(done)} / {human(total)}\n")

    manifest = build_manifest(args.directory, None if args.quiet else progress, args.progress_mib * 1024 * 1024)
    if not manifest["artifacts"]:
        sys.stderr.write(f"no files found under {args.directory} (names starting with a dot are skipped)\n")
    elif not args.quiet:
        total = sum(a["size"] for a in manifest["artifacts"])
        sys.stderr.write(f"{len(manifest['artifacts'])} files, {human(total)}\n")
    sys.stdout.write(json.dumps(manifest, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
