"""Private files (evidence, finding attachments, audit reports) through Django's storage API.

The ``private`` storage of ``STORAGES`` is the local folder ``PRIVATE_STORAGE_ROOT`` by default, or an
S3-compatible bucket when ``STORAGE_URL`` is set (``portal/settings.py``). Nothing in it has a public URL:
every download is streamed by an access-checking view (``download``), so each one is checked once, when
it is asked for, and there is no link that could be passed on.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.db import transaction
from django.http import FileResponse, Http404

log = logging.getLogger(__name__)

PRIVATE = "private"


def _storage_errors() -> tuple[type[BaseException], ...]:
    """What a refusing store raises: OSError for a disk, botocore's and boto3's errors for a bucket."""
    errors: list[type[BaseException]] = [OSError]
    try:
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # pragma: no cover - boto3 is a runtime requirement
        return tuple(errors)
    return (*errors, Boto3Error, BotoCoreError, ClientError)


STORAGE_ERRORS = _storage_errors()


class PrivateFileSystemStorage(FileSystemStorage):
    """The local private folder. Reads PRIVATE_STORAGE_ROOT on every use (not once), so a test that
    points it at a temporary directory, or a process whose setting changes, writes where it says."""

    @property
    def base_location(self):
        return self._value_or_setting(self._location, settings.PRIVATE_STORAGE_ROOT)

    @property
    def location(self):
        return os.path.abspath(self.base_location)

    def url(self, name):
        raise ValueError("private files have no URL: stream them through an access-checking view")


def private_storage() -> Storage:
    return storages[PRIVATE]


def save(name: str, path) -> None:
    """Store the local file at ``path`` as ``name``; raises one of STORAGE_ERRORS when the store refuses.
    Names are fresh random ones: a store that would pick another name is a bug, never an overwrite."""
    storage = private_storage()
    try:
        with open(path, "rb") as fh:
            stored = storage.save(name, _LocalFile(fh, path))
    except BaseException:
        delete(name)  # a copy cut half-way (another disk, a multipart upload) leaves nothing behind
        raise
    if stored != name:
        storage.delete(stored)
        raise OSError(f"the private storage chose {stored!r} instead of {name!r}")


class _LocalFile(File):
    """A spooled upload: the local folder moves it into place instead of copying it."""

    def __init__(self, file, path):
        super().__init__(file, name=os.path.basename(path))
        self._path = str(path)

    def temporary_file_path(self) -> str:
        return self._path


def delete(name: str) -> None:
    """Remove a stored file; a store that refuses is logged, never raised (the row is already gone)."""
    try:
        private_storage().delete(name)
    except STORAGE_ERRORS:
        log.exception("could not remove the private file %s", name)


def delete_on_commit(names: Iterable[str]) -> None:
    """Remove the files once the transaction that dropped their rows commits (kept on a rollback)."""
    names = [n for n in names if n]
    if names:
        transaction.on_commit(lambda: [delete(n) for n in names])


def exists(name: str) -> bool:
    return bool(name) and private_storage().exists(name)


def download(name: str, filename: str, content_type: str) -> FileResponse:
    """Stream a private file as an attachment; 404 if the store does not have it. The caller has
    checked the reader's access: the store is never asked to hand out a link."""
    if not name:
        raise Http404
    try:
        fh = private_storage().open(name, "rb")
    except FileNotFoundError:
        raise Http404 from None
    response = FileResponse(fh, as_attachment=True, filename=filename, content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
