"""Evidence files (DESIGN §3): the family checked by content with the extension
agreeing, a size limit enforced while the upload streams, server-side names,
sha256 recorded, private storage, downloads only through an access-checking view.
"""

from __future__ import annotations

import hashlib
import logging
import os
import unicodedata
import uuid
from pathlib import Path

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.db import transaction
from django.http import FileResponse
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

from certification.releases.models import EvidenceFile, Release
from portal import audit
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


def storage_dir() -> Path:
    directory = Path(settings.PRIVATE_STORAGE_ROOT) / "evidence"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def store(release: Release, uploaded, actor, *, section: str = "", is_public: bool = False, request=None) -> EvidenceFile:
    """Check and store one uploaded file. Nothing is kept if any check fails."""
    display_name, family = check_name(uploaded.name or "")
    stored_name = uuid.uuid4().hex
    try:
        target = storage_dir() / stored_name
    except OSError as exc:
        raise _storage_error(exc) from exc
    digest = hashlib.sha256()
    size = 0
    head = b""
    try:
        try:
            with open(target, "xb") as out:
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
            check_content(target, family, head)
        except OSError as exc:
            # Disk full, quota, I/O error: the partial file is removed below and no row is written.
            raise _storage_error(exc) from exc
        with transaction.atomic():
            evidence = EvidenceFile.objects.create(
                release=release, section=section, display_name=display_name, stored_name=stored_name,
                family=family, size=size, sha256=digest.hexdigest(), is_public=is_public, uploaded_by=actor,
            )
            audit.log("certification.releases.evidence.uploaded", actor=actor, obj=evidence,
                      organization=release.organization,
                      request=request, payload={"sha256": evidence.sha256, "size": size, "section": section})
    except BaseException:
        try:
            target.unlink(missing_ok=True)
        except OSError:
            log.exception("could not remove the partial evidence file %s", target)
        raise
    return evidence


def _storage_error(exc: OSError) -> EvidenceStorageError:
    log.error("evidence file could not be stored: %s", exc)
    return EvidenceStorageError(_("The file could not be stored, try again in a few minutes. Nothing was kept."))


def delete(evidence: EvidenceFile, actor, request=None) -> None:
    with transaction.atomic():
        audit.log("certification.releases.evidence.deleted", actor=actor, obj=evidence,
                  organization=evidence.release.organization, request=request, payload={"sha256": evidence.sha256})
        path = storage_dir() / evidence.stored_name
        evidence.delete()
        transaction.on_commit(lambda: path.unlink(missing_ok=True))


CONTENT_TYPES = {
    EvidenceFile.Family.PDF: "application/pdf",
    EvidenceFile.Family.JSON: "application/json",
    EvidenceFile.Family.CSV: "text/csv; charset=utf-8",
    EvidenceFile.Family.MARKDOWN: "text/markdown; charset=utf-8",
    EvidenceFile.Family.TEXT: "text/plain; charset=utf-8",
}


def download_response(evidence: EvidenceFile) -> FileResponse:
    path = storage_dir() / evidence.stored_name
    response = FileResponse(
        open(path, "rb"), as_attachment=True, filename=evidence.display_name,
        content_type=CONTENT_TYPES.get(evidence.family, "application/octet-stream"),
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
