"""What the auditor network's pages share: turning a refused action into messages, and
private file downloads."""

from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, Http404

from certification.framework.services import WorkflowError
from certification.releases import evidence
from portal import storage as private_files


def show_error(request, exc: WorkflowError, form=None) -> None:
    if form is not None:
        for field, errors in exc.errors.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, error)
        return
    details = [e for errs in exc.errors.values() for e in errs if e != str(exc)]
    messages.error(request, " ".join([str(exc), *details]))


def private_download(folder: str, stored: str, name: str, content_type: str) -> FileResponse:
    """Streamed from the private storage (404 if it has no such file); the caller checked access."""
    if not stored:
        raise Http404
    return private_files.download(evidence.storage_name(folder, stored), name, content_type)
