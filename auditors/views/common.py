"""What the auditor network's pages share: turning a refused action into messages, and
private file downloads."""

from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, Http404

from auditors import services as auditor_services
from certification.framework.services import WorkflowError


def show_error(request, exc: WorkflowError, form=None) -> None:
    if form is not None:
        for field, errors in exc.errors.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, error)
        return
    details = [e for errs in exc.errors.values() for e in errs if e != str(exc)]
    messages.error(request, " ".join([str(exc), *details]))


def private_download(folder: str, stored: str, name: str, content_type: str) -> FileResponse:
    path = auditor_services.private_path(folder, stored)
    if not stored or not path.exists():
        raise Http404
    response = FileResponse(open(path, "rb"), as_attachment=True, filename=name, content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
