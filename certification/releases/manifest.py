"""Release artifact manifests (DESIGN §7): compute one for a local model
directory, and check one an organization uploads.

A manifest is ``{"artifacts": [{"path", "size", "sha256"}, ...]}``: relative
POSIX paths, sorted, sizes in bytes, lowercase hex sha256, as a model hub shows
them for each file.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from pathlib import Path

from django.utils.translation import gettext as _

from portal.parsing import ParseError, load_json

CHUNK_SIZE = 1024 * 1024  # 1 MiB read at a time: memory stays flat on multi-GB shards.
PROGRESS_EVERY = 256 * 1024 * 1024
MAX_PATH_LENGTH = 500  # Artifact.path
MAX_SIZE = 2**63 - 1  # PositiveBigIntegerField
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
MAX_MANIFEST_BYTES = 5 * 1024 * 1024
MAX_MANIFEST_DEPTH = 16  # {"artifacts": [{...}]} is 3; room for fields of an entry this import ignores

# progress(relative path, bytes done, file size)
Progress = Callable[[str, int, int], None]


class ManifestError(ValueError):
    """An uploaded manifest is not valid; the message names the entry and the field."""

    def __init__(self, message: str, index: int | None = None, field: str | None = None):
        super().__init__(message)
        self.index = index
        self.field = field


# --- computing a manifest ----------------------------------------------------------------------


def list_files(root: Path) -> list[tuple[str, Path]]:
    """Every regular file under ``root`` as (relative POSIX path, path), sorted by
    relative path. Names starting with a dot (files and directories such as
    .git or .cache) are skipped. Symlinked files are followed (a Hub cache
    snapshot is made of them); symlinked directories are not, so a link loop
    cannot hang the walk."""
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


def hash_file(path: Path, label: str = "", progress: Progress | None = None,
              progress_every: int = PROGRESS_EVERY) -> tuple[int, str]:
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
    if progress is not None and reported != done:  # and once at the end of the file
        progress(label, done, max(total, done))
    return done, digest.hexdigest()


def build_manifest(root: str | Path, progress: Progress | None = None,
                   progress_every: int = PROGRESS_EVERY) -> dict:
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(str(root))
    artifacts = []
    for relative, path in list_files(root):
        size, sha256 = hash_file(path, relative, progress, progress_every)
        artifacts.append({"path": relative, "size": size, "sha256": sha256})
    return {"artifacts": artifacts}


# --- checking an uploaded manifest ---------------------------------------------------------------


def _entry_error(index: int, path, field: str, problem: str) -> ManifestError:
    if isinstance(path, str) and path:
        where = _("Entry %(n)d (%(path)s)") % {"n": index, "path": path[:100]}
    else:
        where = _("Entry %(n)d") % {"n": index}
    return ManifestError(
        _("%(where)s, field \"%(field)s\": %(problem)s") % {"where": where, "field": field, "problem": problem},
        index=index, field=field,
    )


def _path_problem(path) -> str | None:
    if not isinstance(path, str) or not path.strip():
        return _("give the file's path as non-empty text.")
    if "\x00" in path:
        return _("the path contains a NUL character.")
    if len(path) > MAX_PATH_LENGTH:
        return _("the path is longer than %(n)d characters.") % {"n": MAX_PATH_LENGTH}
    if "\\" in path:
        return _("use \"/\" to separate directories.")
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        return _("the path must be relative to the model directory.")
    parts = path.split("/")
    if ".." in parts:
        return _("the path must not contain \"..\".")
    if any(part in ("", ".") for part in parts):
        return _("the path must not contain empty or \".\" parts.")
    return None


def parse_manifest(data: bytes) -> list[dict]:
    """The artifacts of an uploaded manifest, each ``{"path", "size", "sha256"}``.

    Accepts ``{"artifacts": [...]}`` or a bare list. Raises ``ManifestError``
    (a ValueError) naming the entry (numbered from 1) and the field at fault."""
    try:
        document = load_json(data, max_bytes=MAX_MANIFEST_BYTES, max_depth=MAX_MANIFEST_DEPTH)
    except ParseError as exc:
        if exc.kind == ParseError.TOO_LARGE:
            raise ManifestError(_("The manifest is larger than 5 MB.")) from None
        if exc.kind == ParseError.ENCODING:
            raise ManifestError(_("The manifest is not UTF-8 text.")) from None
        if exc.kind == ParseError.SYNTAX and exc.line is not None:
            raise ManifestError(
                _("The manifest is not valid JSON: %(msg)s (line %(line)d, column %(col)d).")
                % {"msg": exc.problem, "line": exc.line, "col": exc.column}
            ) from None
        if exc.kind == ParseError.TOO_DEEP:
            raise ManifestError(_("The manifest is nested more than %(n)d levels deep.")
                                % {"n": MAX_MANIFEST_DEPTH}) from None
        raise ManifestError(_("The manifest is not valid JSON: %(problem)s") % {"problem": exc.problem}) from None
    if isinstance(document, dict):
        if "artifacts" not in document:
            raise ManifestError(_("The manifest has no \"artifacts\" list."), field="artifacts")
        entries = document["artifacts"]
    else:
        entries = document
    if not isinstance(entries, list):
        raise ManifestError(
            _("The manifest must be a JSON object with an \"artifacts\" list, or a list of artifacts."),
            field="artifacts",
        )
    artifacts: list[dict] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise ManifestError(
                _("Entry %(n)d must be an object with path, size and sha256.") % {"n": index}, index=index
            )
        path = entry.get("path")
        problem = _path_problem(path)
        if problem:
            raise _entry_error(index, path if isinstance(path, str) and "\x00" not in path else None, "path", problem)
        size = entry.get("size")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0 or size > MAX_SIZE:
            raise _entry_error(index, path, "size", _("give the size in bytes as a whole number, 0 or more."))
        sha256 = entry.get("sha256")
        if not isinstance(sha256, str) or not SHA256_HEX.fullmatch(sha256):
            raise _entry_error(index, path, "sha256", _("give 64 lowercase hexadecimal characters."))
        if path in seen:
            raise _entry_error(
                index, path, "path", _("the same path is already listed in entry %(n)d.") % {"n": seen[path]}
            )
        seen[path] = index
        artifacts.append({"path": path, "size": size, "sha256": sha256})
    return artifacts
