"""Staff pages of the workflow: the screening queue, screening, acceptance into review, the
Tier 1/2 review, hand-over, change requests, tier raises and the benchmark catalogue."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from certification.framework import services as framework_services
from certification.framework import texts, tiers
from certification.releases import applications as release_applications
from certification.releases import forms
from certification.releases import services as release_services
from certification.releases.access import (get_application_for_user, get_release_for_user, run_action,
                                           show_workflow_error)
from certification.releases.models import Application
from portal.views import staff_required

# --- staff --------------------------------------------------------------------------------------------


@staff_required
@require_GET
def screening_queue(request: HttpRequest) -> HttpResponse:
    """Applications waiting for staff, oldest first. A fixed number of queries at any size."""
    form = forms.ScreeningFilterForm(request.GET or None)
    qs = (
        Application.objects.staff_queue()
        .select_related("release__ai_model__organization", "framework_version", "owner")
        .order_by("submitted_at", "pk")
    )
    if form.is_valid():
        qs = form.apply(qs, request.user, timezone.now())
    # Staff queues are bounded; the page count costs one COUNT query.
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(request, "certification/releases/screening_queue.html", {"form": form, "applications": page,
                                                                   "page": page, "now": timezone.now()})


def staff_action(request, pk: int, action, success: str) -> HttpResponse:
    app = get_application_for_user(request, pk)
    run_action(request, action, app, success)
    return redirect("certification:application-detail", app.pk)


@staff_required
@require_POST
def application_screen(request: HttpRequest, pk: int) -> HttpResponse:
    return staff_action(request, pk, release_applications.start_screening,
                        _("You are screening this application and own it."))


@staff_required
@require_POST
def application_accept(request: HttpRequest, pk: int) -> HttpResponse:
    return staff_action(request, pk, release_applications.accept_into_review, _("Accepted into review."))


@staff_required
@require_POST
def application_complete_review(request: HttpRequest, pk: int) -> HttpResponse:
    return staff_action(request, pk, release_applications.complete_review, _("Review marked complete."))


def staff_form_action(request, form, run, success: str, done_url: str, context: dict) -> HttpResponse:
    """GET shows the form; a valid POST runs the service, its error lands on the form."""
    if request.method == "POST" and form.is_valid():
        try:
            run(form.cleaned_data)
        except framework_services.WorkflowError as exc:
            show_workflow_error(request, exc, form)
        else:
            messages.success(request, success)
            return redirect(done_url)
    return render(request, "certification/releases/reason_form.html", {"form": form, **context})


@staff_required
def application_hand_over(request: HttpRequest, pk: int) -> HttpResponse:
    app = get_application_for_user(request, pk)
    return staff_form_action(
        request, forms.HandOverForm(request.POST or None),
        lambda data: release_applications.hand_over(app, request.user, data["owner"], request=request),
        _("Ownership handed over."), reverse("certification:application-detail", args=[app.pk]),
        {"application": app, "title": _("Hand the application over")},
    )


@staff_required
def application_request_changes(request: HttpRequest, pk: int) -> HttpResponse:
    app = get_application_for_user(request, pk)
    rules = texts.in_language(app.framework_version.rules)
    requirements = [r for r in tiers.requirements_for_tier(rules, app.tier or 1) if r["kind"] != "process"]
    from django import forms as dj_forms

    form = dj_forms.Form(request.POST or None)
    for r in requirements:
        form.fields[r["id"]] = dj_forms.CharField(label=r["title"], required=False,
                                                  widget=dj_forms.Textarea(attrs={"rows": 2}))
    if request.method == "POST" and form.is_valid():
        try:
            release_applications.request_changes(app, request.user, form.cleaned_data, request=request)
        except framework_services.WorkflowError as exc:
            show_workflow_error(request, exc, form)
        else:
            messages.success(request, _("Changes requested; the organization has been told."))
            return redirect("certification:application-detail", app.pk)
    return render(request, "certification/releases/reason_form.html", {
        "application": app, "form": form, "title": _("Request changes"),
        "intro": _("Write a comment for each section that needs a change. Leave the others empty.")})


@staff_required
def raise_tier(request: HttpRequest, pk: int) -> HttpResponse:
    release = get_release_for_user(request, pk)
    return staff_form_action(
        request, forms.RaiseTierForm(request.POST or None),
        lambda data: release_applications.raise_tier(release, request.user, data["tier"], data["reason"],
                                                     request=request),
        _("Tier raised."), reverse("certification:release-detail", args=[release.pk]),
        {"release": release, "title": _("Raise the tier")},
    )


@staff_required
def benchmark_list(request: HttpRequest) -> HttpResponse:
    """Custom benchmarks proposed by organizations, for staff to mark established."""
    from certification.framework.models import Benchmark

    if request.method == "POST":
        benchmark = get_object_or_404(Benchmark, pk=request.POST.get("benchmark"))
        try:
            release_services.establish_benchmark(benchmark, request.user, request=request)
            messages.success(request, _("%(name)s is now established.") % {"name": benchmark.name})
        except framework_services.WorkflowError as exc:
            show_workflow_error(request, exc)
        return redirect("certification:benchmark-list")
    return render(request, "certification/releases/benchmark_list.html", {
        "proposed": Benchmark.objects.filter(established=False).select_related("proposed_by"),
        "catalogue": Benchmark.objects.filter(established=True).select_related("proposed_by"),
    })
