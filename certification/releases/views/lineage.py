"""The release's upstream models (issue 16 §1): the page where the organization declares what its
release was built on while the release can change, each upstream resolved to its certificate.
Views check access, call ``certification.releases.lineage`` and redirect."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from certification.framework import services as framework_services
from certification.releases import forms, lineage
from certification.releases import services as release_services
from certification.releases.access import get_release_for_user, membership_of, require_member, show_workflow_error


def assumed_tier(release) -> int:
    """The tier the release's documentation assumes: its open (or latest) application's, else computed."""
    app = release_services.editable_application(release) or release.applications.order_by("-created_at").first()
    if app is not None and app.tier:
        return app.tier
    return release_services.effective_tier(release, release_services.rules_for_release(release))


def _can_edit(release) -> bool:
    try:
        release_services.ensure_release_editable(release)
    except framework_services.WorkflowError:
        return False
    return True


@login_required
def release_upstreams(request: HttpRequest, pk: int) -> HttpResponse:
    release = get_release_for_user(request, pk)
    can_edit = membership_of(request, release.organization) is not None and _can_edit(release)
    form = forms.UpstreamForm(request.POST or None)
    if request.method == "POST":
        require_member(request, release.organization)
        if form.is_valid():
            try:
                lineage.add_upstream(release, request.user, request=request, **form.cleaned_data)
            except framework_services.WorkflowError as exc:
                show_workflow_error(request, exc, form)
            else:
                messages.success(request, _("Upstream model added."))
                return redirect("certification:release-upstreams", release.pk)
    links = lineage.resolve(release, assumed_tier(release))
    return render(request, "certification/releases/upstreams.html", {
        "release": release, "form": form, "links": links, "flagged_links": [link for link in links if link.flags],
        "can_edit": can_edit,
    })


@login_required
@require_POST
def upstream_delete(request: HttpRequest, pk: int, upstream_pk: int) -> HttpResponse:
    release = get_release_for_user(request, pk)
    require_member(request, release.organization)
    upstream = release.upstreams.filter(pk=upstream_pk).first()
    if upstream is None:
        raise Http404
    try:
        lineage.remove_upstream(upstream, request.user, request=request)
        messages.success(request, _("Upstream model removed."))
    except framework_services.WorkflowError as exc:
        show_workflow_error(request, exc)
    return redirect("certification:release-upstreams", release.pk)
