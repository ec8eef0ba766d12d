"""Evidence files (DESIGN §3): the family checked by content with the extension
agreeing, a size limit enforced while the upload streams, server-side names,
sha256 recorded, private storage, downloads only through an access-checking view.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.db import transaction
from django.http import FileResponse
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

from certification.releases.models import EvidenceFile, Release
from portal import audit
from portal import storage as private_files
from portal.parsing import ParseError, load_json
from portal.validators import BIDI_CONTROLS

EXTENSIONS = {
    ".pdf": EvidenceFile.Family.PDF,
    ".json": EvidenceFile.Family.JSON,
    ".csv": EvidenceFile.Family.CSV,
    ".md": EvidenceFile.Family.MARKDOWN,
    ".markdown": EvidenceFile.Family.MARKDOWN,
    ".txt": EvidenceFile.Family.TEXT,
}
# Where evidence files live in the private storage (``evidence/<stored_name>``).
FOLDER = "evidence"
MAX_NAME_LENGTH = 200
CHUNK = 64 * 1024
# JSON evidence is only checked to be JSON, never interpreted: a generous nesting limit.
MAX_JSON_DEPTH = 256

log = logging.getLogger(__name__)


class EvidenceError(ValueError):
    pass


class EvidenceStorageError(EvidenceError):
    """The file could not be written (disk full, object store refusing): nothing was kept, and
    the sender may try again later (the API answers 503, the page shows the message)."""


def max_size() -> int:
    return int(getattr(settings, "EVIDENCE_MAX_BYTES", 20 * 1024 * 1024))


class SizeLimitUploadHandler(FileUploadHandler):
    """Stops reading an upload as soon as it passes the limit: no more bytes are kept."""

    def receive_data_chunk(self, raw_data, start):
        if start + len(raw_data) > max_size():
            self.request.upload_too_large = True
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size):
        return None


def check_name(name: str) -> tuple[str, str]:
    """Return (display name, family) or raise EvidenceError naming the problem."""
    if not name:
        raise EvidenceError(_("The file has no name."))
    if "\x00" in name or any(unicodedata.category(c) == "Cc" for c in name):
        raise EvidenceError(_("The file name contains control characters."))
    if any(c in BIDI_CONTROLS for c in name):
        raise EvidenceError(_("The file name contains right-to-left or other direction marks."))
    if "/" in name or "\\" in name or name in (".", "..") or name.startswith("."):
        raise EvidenceError(_("The file name must not contain a path."))
    if len(name) > MAX_NAME_LENGTH:
        raise EvidenceError(_("The file name is longer than %(n)d characters.") % {"n": MAX_NAME_LENGTH})
    ext = os.path.splitext(name)[1].lower()
    family = EXTENSIONS.get(ext)
    if family is None:
        raise EvidenceError(
            _("Files of type %(ext)s are not accepted. Upload PDF, JSON, CSV, Markdown or plain text.")
            % {"ext": ext or _("(none)")}
        )
    return unicodedata.normalize("NFC", name), family


def check_content(path: Path, family: str, head: bytes) -> None:
    if family == EvidenceFile.Family.PDF:
        if not head.startswith(b"%PDF-"):
            raise EvidenceError(_("The file is not a PDF, although its name ends in .pdf."))
        return
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise EvidenceError(_("The file is not valid UTF-8 text, as its extension says it should be.")) from None
    if "\x00" in text:
        raise EvidenceError(_("The file contains NUL bytes: it is not text."))
    if family == EvidenceFile.Family.JSON:
        try:
            # NaN and Infinity allowed: Python tools write them in results files.
            load_json(text, max_bytes=max_size(), max_depth=MAX_JSON_DEPTH, allow_nan=True)
        except ParseError as exc:
            if exc.kind == ParseError.SYNTAX:
                raise EvidenceError(_("The file is not valid JSON.")) from None
            raise EvidenceError(str(exc)) from None


@dataclass(frozen=True)
class StoredFile:
    """A checked upload now in the private storage under ``folder/stored_name``."""

    display_name: str
    stored_name: str
    family: str
    size: int
    sha256: str


def storage_name(folder: str, stored_name: str) -> str:
    return f"{folder}/{stored_name}"


def save_upload(uploaded, folder: str) -> StoredFile:
    """Check an upload and put it in the private storage, under a fresh server-side name.

    The upload streams into a local spool file first, counting the size limit and the sha256
    as it goes; only a file that passed every check is handed to the store, so a refused file
    never reaches the bucket. EvidenceError names the problem; EvidenceStorageError when the
    spool or the store fails (nothing is kept either way)."""
    display_name, family = check_name(uploaded.name or "")
    stored_name = uuid.uuid4().hex
    digest = hashlib.sha256()
    size = 0
    head = b""
    try:
        fd, spool = tempfile.mkstemp(prefix="upload-", dir=settings.FILE_UPLOAD_TEMP_DIR)
        os.close(fd)
    except OSError as exc:
        raise _storage_error(exc) from exc
    spool = Path(spool)
    try:
        try:
            with open(spool, "wb") as out:
                for chunk in uploaded.chunks(CHUNK):
                    size += len(chunk)
                    if size > max_size():
                        raise EvidenceError(
                            _("The file is larger than the limit of %(size)s.") % {"size": filesizeformat(max_size())}
                        )
                    if len(head) < 8:
                        head += chunk[: 8 - len(head)]
                    digest.update(chunk)
                    out.write(chunk)
            if size == 0:
                raise EvidenceError(_("The file is empty."))
            check_content(spool, family, head)
            private_files.save(storage_name(folder, stored_name), spool)
        except private_files.STORAGE_ERRORS as exc:
            # Disk full, quota, a bucket refusing the put: nothing was stored and no row is written.
            raise _storage_error(exc) from exc
    finally:
        try:
            spool.unlink(missing_ok=True)  # the local folder moved it into place; anything else drops it
        except OSError:
            log.exception("could not remove the upload spool file %s", spool)
    return StoredFile(display_name, stored_name, family, size, digest.hexdigest())


def store(release: Release, uploaded, actor, *, section: str = "", is_public: bool = False, request=None) -> EvidenceFile:
    """Check and store one uploaded file. Nothing is kept if any check fails."""
    stored = save_upload(uploaded, FOLDER)
    try:
        with transaction.atomic():
            evidence = EvidenceFile.objects.create(
                release=release, section=section, display_name=stored.display_name, stored_name=stored.stored_name,
                family=stored.family, size=stored.size, sha256=stored.sha256, is_public=is_public, uploaded_by=actor,
            )
            audit.log("certification.releases.evidence.uploaded", actor=actor, obj=evidence,
                      organization=release.organization,
                      request=request, payload={"sha256": evidence.sha256, "size": stored.size, "section": section})
    except BaseException:
        private_files.delete(storage_name(FOLDER, stored.stored_name))
        raise
    return evidence


def _storage_error(exc: BaseException) -> EvidenceStorageError:
    log.error("evidence file could not be stored: %s", exc)
    return EvidenceStorageError(_("The file could not be stored, try again in a few minutes. Nothing was kept."))


def delete(evidence: EvidenceFile, actor, request=None) -> None:
    with transaction.atomic():
        audit.log("certification.releases.evidence.deleted", actor=actor, obj=evidence,
                  organization=evidence.release.organization, request=request, payload={"sha256": evidence.sha256})
        name = storage_name(FOLDER, evidence.stored_name)
        evidence.delete()
        private_files.delete_on_commit([name])


CONTENT_TYPES = {
    EvidenceFile.Family.PDF: "application/pdf",
    EvidenceFile.Family.JSON: "application/json",
    EvidenceFile.Family.CSV: "text/csv; charset=utf-8",
    EvidenceFile.Family.MARKDOWN: "text/markdown; charset=utf-8",
    EvidenceFile.Family.TEXT: "text/plain; charset=utf-8",
}


def download_response(evidence: EvidenceFile) -> FileResponse:
    """Streamed by the portal from the private storage, after the caller's access check."""
    return private_files.download(storage_name(FOLDER, evidence.stored_name), evidence.display_name,
                                  CONTENT_TYPES.get(evidence.family, "application/octet-stream"))
