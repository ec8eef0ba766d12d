"""Evidence pages: the streamed upload (type checked by content, size while streaming), the
access-checked download and deletion from a draft."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST

from certification.framework import services as framework_services
from certification.framework import tiers
from certification.releases import evidence, forms
from certification.releases import services as release_services
from certification.releases.access import (
    get_evidence_for_user,
    get_release_for_user,
    require_member,
    show_workflow_error,
)

# --- evidence ----------------------------------------------------------------------------------


@csrf_exempt
@login_required
@require_POST
def evidence_upload(request: HttpRequest, pk: int) -> HttpResponse:
    # Enforce the size limit while the body streams: no more bytes are read past it.
    # The CSRF middleware would parse the body before this view could add the handler,
    # so the check runs here, after it (Django's documented pattern for upload handlers).
    request.upload_handlers.insert(0, evidence.SizeLimitUploadHandler(request))
    return _evidence_upload(request, pk)


@csrf_protect
def _evidence_upload(request: HttpRequest, pk: int) -> HttpResponse:
    release = get_release_for_user(request, pk)
    require_member(request, release.organization)
    back = request.POST.get("next") or reverse("certification:release-detail", args=[release.pk])
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        back = reverse("certification:release-detail", args=[release.pk])
    if getattr(request, "upload_too_large", False):
        messages.error(request, _("The file is larger than the limit of %(size)s.") % {"size": filesizeformat(evidence.max_size())})
        return _upload_done(request, back)
    form = forms.EvidenceForm(request.POST, request.FILES, sections=[(s,
        s) for s in tiers.section_ids(release_services.rules_for_release(release))])
    if not form.is_valid():
        messages.error(request, " ".join(e for errs in form.errors.values() for e in errs))
        return _upload_done(request, back)
    try:
        release_services.ensure_release_editable(release)
        stored = evidence.store(release, form.cleaned_data["file"], request.user, section=form.cleaned_data["section"],
                                is_public=form.cleaned_data["is_public"], request=request)
    except (evidence.EvidenceError, framework_services.WorkflowError) as exc:
        messages.error(request, _("%(name)s was not uploaded: %(error)s") % {
            "name": form.cleaned_data["file"].name[:80], "error": exc})
    else:
        messages.success(request, _("%(name)s uploaded (sha256 %(sha)s…).") % {
            "name": stored.display_name, "sha": stored.sha256[:12]})
    return _upload_done(request, back)


def _upload_done(request: HttpRequest, back: str) -> HttpResponse:
    """Redirect back; the upload-progress script posts by XHR and gets the target as JSON
    instead, so the flash message is left for the page it opens (an XHR that followed the
    redirect would consume it)."""
    if request.headers.get("X-Requested-With") == "XMLHttpRequest":
        return JsonResponse({"location": back})
    return redirect(back)


@login_required
@require_GET
def evidence_download(request: HttpRequest, pk: int) -> HttpResponse:
    return evidence.download_response(get_evidence_for_user(request, pk))


@login_required
@require_POST
def evidence_delete(request: HttpRequest, pk: int) -> HttpResponse:
    ev = get_evidence_for_user(request, pk)
    require_member(request, ev.release.organization)
    release = ev.release
    try:
        release_services.ensure_release_editable(release)
        evidence.delete(ev, request.user, request=request)
        messages.success(request, _("File deleted."))
    except framework_services.WorkflowError as exc:
        show_workflow_error(request, exc)
    return redirect("certification:release-detail", release.pk)
