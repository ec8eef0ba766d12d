"""Pages of models and releases: registering and editing them, the artifact list, the release
page (the live checklist), documentation sections, benchmark results and the vulnerability
contact's confirmation. Views check access, call a service, turn its error into a message or
field errors, and redirect."""

from __future__ import annotations

import json
import secrets

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from certification.framework import services as framework_services
from certification.framework import texts, tiers
from certification.releases import applications as release_applications
from certification.releases import checklist, forms, lineage
from certification.releases import services as release_services
from certification.releases.access import (
    get_model_for_user,
    get_release_for_user,
    membership_of,
    require_member,
    show_workflow_error,
)
from certification.releases.models import (
    AIModel,
    Application,
    BenchmarkResult,
    ContactConfirmation,
    Documentation,
    Release,
)
from portal import audit
from portal.models import hash_secret
from portal.notifications import enqueue_delivery, render_email
from portal.views import current_organization

# --- models ---------------------------------------------------------------------------------


@login_required
@require_GET
def model_list(request: HttpRequest) -> HttpResponse:
    """The current organization's models and releases. Query count does not grow with rows:
    models (1), their releases (1), their applications (1) and certificates (1)."""
    org = current_organization(request)
    models = []
    if org is not None:
        models = list(
            AIModel.objects.filter(organization=org)
            .order_by("name")
            .prefetch_related(
                Prefetch(
                    "releases",
                    queryset=Release.objects.order_by("-created_at").prefetch_related(
                        Prefetch("applications", queryset=Application.objects.order_by("-created_at")),
                        "certificates",
                    ),
                )
            )
        )
    return render(request, "certification/releases/model_list.html", {"org": org, "models": models})


@login_required
def model_create(request: HttpRequest) -> HttpResponse:
    org = current_organization(request)
    if org is None:
        messages.info(request, _("Create or join an organization first."))
        return redirect("portal:organization-create")
    require_member(request, org)
    form = forms.AIModelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            model = release_services.register_model(org, request.user, request=request, **form.cleaned_data)
        except framework_services.WorkflowError as exc:
            show_workflow_error(request, exc, form)
        else:
            messages.success(request, _("Model %(name)s registered. Add its first release.") % {"name": model.name})
            return redirect("certification:release-create", model.pk)
    return render(request, "certification/releases/model_form.html", {"form": form, "org": org})


@login_required
@require_GET
def model_detail(request: HttpRequest, pk: int) -> HttpResponse:
    model = get_model_for_user(request, pk)
    releases = model.releases.order_by("-created_at").prefetch_related("applications", "certificates")
    return render(request, "certification/releases/model_detail.html", {"model": model, "releases": releases})


# --- releases ------------------------------------------------------------------------------------


def _release_form_data(form: forms.ReleaseForm) -> dict:
    data = dict(form.cleaned_data)
    if not data["emergent_capabilities"]:
        data["emergent_description"] = data.get("emergent_description") or ""
    return data


@login_required
def release_create(request: HttpRequest, pk: int) -> HttpResponse:
    model = get_model_for_user(request, pk)
    require_member(request, model.organization)
    try:
        rules = framework_services.version_in_force().rules
    except framework_services.WorkflowError as exc:
        messages.error(request, str(exc))
        return redirect("certification:model-detail", model.pk)
    form = forms.ReleaseForm(request.POST or None, rules=rules)
    if request.method == "POST" and form.is_valid():
        try:
            release = release_services.create_release(model, request.user, _release_form_data(form), request=request)
        except framework_services.WorkflowError as exc:
            show_workflow_error(request, exc, form)
        else:
            messages.success(request, _("Release %(v)s registered.") % {"v": release.version})
            return redirect("certification:release-detail", release.pk)
    return render(request, "certification/releases/release_form.html", {"form": form, "model": model, "creating": True})


@login_required
def release_edit(request: HttpRequest, pk: int) -> HttpResponse:
    release = get_release_for_user(request, pk)
    require_member(request, release.organization)
    rules = release_services.rules_for_release(release)
    initial = {**release.classification_inputs(), "version": release.version,
               "declared_tier": release.declared_tier, "hub_revision": release.hub_revision}
    form = forms.ReleaseForm(request.POST or None, rules=rules, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = _release_form_data(form)
        changed = {k: v for k, v in data.items() if getattr(release, k) != v}
        try:
            release_services.update_release(release, request.user, changed, request=request)
        except framework_services.WorkflowError as exc:
            show_workflow_error(request, exc, form)
        else:
            messages.success(request, _("Release facts saved."))
            return redirect("certification:release-detail", release.pk)
    return render(request, "certification/releases/release_form.html",
                  {"form": form, "model": release.ai_model, "release": release})


def parse_artifact_lines(text: str) -> list[dict]:
    from certification.releases.manifest import ManifestError, parse_manifest

    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.replace("\t", ",").split(",")]
        if len(parts) != 3:
            raise ManifestError(_("Line %(n)d: write path, size, sha256 separated by commas.") % {"n": number})
        path, size, sha = parts
        try:
            size_value = int(size)
        except ValueError:
            raise ManifestError(_("Line %(n)d: the size must be a whole number of bytes.") % {"n": number}) from None
        entries.append({"path": path, "size": size_value, "sha256": sha.lower()})
    return parse_manifest(json.dumps({"artifacts": entries}).encode())


@login_required
def release_artifacts(request: HttpRequest, pk: int) -> HttpResponse:
    from certification.releases.manifest import MAX_MANIFEST_BYTES, ManifestError, parse_manifest

    release = get_release_for_user(request, pk)
    require_member(request, release.organization)
    form = forms.ArtifactsForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["manifest_file"]
        field = "manifest_file" if upload else "lines"
        try:
            if upload:
                # Read at most one byte past the limit: parse_manifest refuses what is over it.
                artifacts = parse_manifest(upload.read(MAX_MANIFEST_BYTES + 1))
            else:
                artifacts = parse_artifact_lines(form.cleaned_data["lines"])
            if not artifacts:
                raise ManifestError(_("List at least one artifact."))
            release_services.ensure_release_editable(release)
            release_services.replace_artifacts(release, request.user, artifacts, request=request)
        except ManifestError as exc:
            form.add_error(field, str(exc))
        except framework_services.WorkflowError as exc:
            show_workflow_error(request, exc, form)
        else:
            messages.success(request, _("%(n)d artifacts saved.") % {"n": len(artifacts)})
            return redirect("certification:release-detail", release.pk)
    if request.method == "GET":
        form = forms.ArtifactsForm(initial={"lines": "\n".join(
            f"{a.path}, {a.size}, {a.sha256}" for a in release.artifacts.all())})
    return render(request, "certification/releases/release_artifacts.html", {"form": form, "release": release})


@login_required
@require_GET
def release_detail(request: HttpRequest, pk: int) -> HttpResponse:
    release = get_release_for_user(request, pk)
    app = release_services.editable_application(release) or release.applications.order_by("-created_at").first()
    fv = app.framework_version if app else framework_services.version_in_force()
    rules = texts.in_language(fv.rules)  # shown: fired rules, checklist, requirements in the reader's language
    classification = release_services.classify_release(release, rules)
    tier = release_services.effective_tier(release, rules)
    doc = Documentation.objects.filter(release=release).first()
    items = checklist.build(release, tier, rules, doc)
    membership = membership_of(request, release.organization)
    context = {
        "release": release,
        "model": release.ai_model,
        "classification": classification,
        "tier": tier,
        "framework_version": fv,
        "tier_settings": tiers.tier_settings(rules, tier),
        "items": items,
        "ready": not checklist.missing(items),
        "application": app,
        "applications": release.applications.order_by("-created_at"),
        "artifacts": release.artifacts.all(),
        "evidence_files": release.evidence_files.all(),
        "membership": membership,
        "can_edit": membership is not None and (app is None or app.is_editable) and not release.certificates.exists(),
        "gates": release_applications.open_gates(app) if app and app.status == Application.Status.IN_REVIEW else [],
        "upstream_links": lineage.resolve(release, app.tier if app and app.tier else tier),
    }
    context["flagged_links"] = [link for link in context["upstream_links"] if link.flags]
    for panel in RELEASE_PANELS:  # higher layers' parts of the page (the incidents about its certificates)
        context.update(panel(release, request.user))
    return render(request, "certification/releases/release_detail.html", context)


# ``panel(release, user) -> dict`` of template context, appended by higher layers in their
# ``AppConfig.ready()`` (the certificates layer's incidents), as the dashboard's panels are.
RELEASE_PANELS: list = []


# --- documentation sections ---------------------------------------------------------------------

# The form of each kind of documentation requirement (``tiers.DOCUMENTATION_KINDS``).
SECTION_FORMS = {
    "model_card": forms.ModelCardForm,
    "training_data": forms.TrainingDataForm,
    "license": forms.LicenseForm,
    "vulnerability_contact": forms.ContactForm,
    "compute": forms.ComputeForm,
    "report": forms.ReportForm,
    "access_instructions": forms.AccessForm,
    "rollout_plan": forms.SectionForm,
    "domain_risk_assessments": forms.DomainRiskForm,
    "safety_benchmarks": forms.SectionForm,
    "fields": forms.FieldsForm,
}


def _section_form(requirement: dict, release: Release, rules: dict, data=None, initial=None):
    """The form of a requirement (its entry in the framework data) for this release."""
    form_class = SECTION_FORMS[tiers.check_kind(requirement)]
    if form_class is forms.FieldsForm:
        return form_class(data, fields=requirement["fields"], initial=initial, prefix="s")
    if form_class is forms.DomainRiskForm:
        labels = dict(forms.domain_choices(rules))
        domains = [(d, labels.get(d, d)) for d in release.sensitive_domains]
        init = {f"assessment_{k}": v for k, v in (initial or {}).get("assessments", {}).items()}
        return form_class(data, domains=domains, initial=init, prefix="s")
    return form_class(data, initial=initial, prefix="s")


def send_contact_confirmation(release: Release, email: str, actor=None, request=None) -> None:
    """Email the confirmation link to the vulnerability contact: on saving the section's page, and
    ``POST /api/v1/releases/{id}/contact-confirmation/``."""
    token = secrets.token_urlsafe(32)
    from django.conf import settings

    from portal.models import OutboxEmail

    link = settings.SITE_URL + reverse("certification:contact-confirm", args=[token])
    subject, text, html = render_email("contact-confirmation", {"release": release, "link": link, "email": email})
    with transaction.atomic():
        ContactConfirmation.objects.create(release=release, email=email.lower(), token_hash=hash_secret(token))
        row = OutboxEmail.objects.create(to=email, subject=subject, body_text=text, body_html=html)
        audit.log("certification.documentation.contact_confirmation_sent", actor=actor, obj=release,
                  organization=release.organization, request=request, payload={"email": email.lower()})
    transaction.on_commit(lambda: enqueue_delivery([row.pk]))


@login_required
def section_edit(request: HttpRequest, pk: int, section: str) -> HttpResponse:
    release = get_release_for_user(request, pk)
    # The requirement's title, description and field labels in the reader's language.
    rules = texts.in_language(release_services.rules_for_release(release))
    tier = release_services.effective_tier(release, rules)
    requirement = next((r for r in rules["requirements"] if r["id"] == section), None)
    if requirement is None or tiers.check_kind(requirement) not in SECTION_FORMS:
        raise Http404
    kind = tiers.check_kind(requirement)
    doc, _created = Documentation.objects.get_or_create(release=release)
    current = doc.section(section)
    can_edit = membership_of(request, release.organization) is not None
    form = _section_form(requirement, release, rules, request.POST if request.method == "POST" else None, current)
    formset = None
    if kind == "training_data":
        formset = forms.SourceFormSet(request.POST if request.method == "POST" else None,
                                  initial=current.get("sources") or [], prefix="sources")
    elif kind == "rollout_plan":
        formset = forms.RolloutFormSet(request.POST if request.method == "POST" else None,
                                   initial=current.get("stages") or [], prefix="stages")
    benchmark_form = custom_form = None
    if kind == "safety_benchmarks":
        proposing = request.method == "POST" and "propose" in request.POST
        custom_form = forms.CustomBenchmarkForm(request.POST if proposing else None, prefix="c")
        benchmark_form = forms.BenchmarkResultForm(request.POST if request.method == "POST" and not proposing else None,
                                               release=release, prefix="b")
        if proposing:
            if not can_edit:
                raise PermissionDenied
            if custom_form.is_valid():
                benchmark = release_services.propose_benchmark(release.organization, request.user, request=request,
                                                       **custom_form.cleaned_data)
                messages.success(request, _("%(name)s added. You can report results against it now; it counts toward "
                                            "the minimum once Alliance staff mark it established.")
                                 % {"name": benchmark.name})
                return redirect("certification:section-edit", release.pk, section)
    if request.method == "POST" and not (custom_form is not None and custom_form.is_bound):
        if not can_edit:
            raise PermissionDenied
        valid = form.is_valid() and (formset is None or formset.is_valid()) and (
            benchmark_form is None or benchmark_form.is_valid())
        if valid:
            try:
                with transaction.atomic():
                    if benchmark_form is not None:
                        release_services.add_benchmark_result(release, request.user, request=request,
                                                      **benchmark_form.cleaned_data)
                    else:
                        data = form.to_data()
                        if kind == "training_data":
                            data["sources"] = [
                                {k: (str(v) if v is not None and k == "share_pct" else v) for k, v in row.items()}
                                for row in formset.cleaned_data if row and row.get("name")
                            ]
                        elif kind == "rollout_plan":
                            data = {"stages": [
                                {"audience": row["audience"], "planned_date": row["planned_date"].isoformat()}
                                for row in formset.cleaned_data if row and row.get("audience")
                            ]}
                        if kind == "vulnerability_contact":
                            data["email"] = (data.get("email") or "").lower()
                        release_services.update_section(release, request.user, section, data, request=request)
                        if kind == "vulnerability_contact" and data["email"] and not ContactConfirmation.objects.filter(
                            release=release, email=data["email"], confirmed_at__isnull=False
                        ).exists():
                            send_contact_confirmation(release, data["email"], actor=request.user,
                                                      request=request)
                            messages.info(request, _("We sent a confirmation link to %(email)s.") % data)
            except framework_services.WorkflowError as exc:
                show_workflow_error(request, exc, form)
            else:
                messages.success(request, _("%(section)s saved.") % {"section": requirement["title"]})
                if kind == "safety_benchmarks":
                    return redirect("certification:section-edit", release.pk, section)
                return redirect("certification:release-detail", release.pk)
    items = {item.id: item for item in checklist.build(release, tier, rules, doc)}
    context = {
        "release": release,
        "section": section,
        "requirement": requirement,
        "kind": kind,
        "item": items.get(section),
        "form": form,
        "formset": formset,
        "benchmark_form": benchmark_form,
        "custom_form": custom_form,
        "results": BenchmarkResult.objects.filter(release=release).select_related("benchmark")
        if kind == "safety_benchmarks" else [],
        "section_evidence": release.evidence_files.filter(section=section),
        "evidence_form": forms.EvidenceForm(sections=[(section, requirement["title"])], initial={"section": section}),
        "can_edit": can_edit,
    }
    return render(request, "certification/releases/section_form.html", context)


@login_required
@require_POST
def benchmark_delete(request: HttpRequest, pk: int, result_pk: int) -> HttpResponse:
    release = get_release_for_user(request, pk)
    require_member(request, release.organization)
    result = get_object_or_404(BenchmarkResult, pk=result_pk, release=release)
    try:
        release_services.delete_benchmark_result(result, request.user, request=request)
        messages.success(request, _("Result removed."))
    except framework_services.WorkflowError as exc:
        show_workflow_error(request, exc)
    return redirect("certification:section-edit", release.pk, "safety_benchmarks")


def contact_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The link sent to the vulnerability contact; works without an account."""
    confirmation = ContactConfirmation.objects.select_related("release__ai_model").filter(
        token_hash=hash_secret(token)).first()
    if confirmation is None:
        return render(request, "certification/releases/contact_confirm.html", {"problem": _("This link is not valid.")},
                      status=404)
    if request.method == "POST":
        with transaction.atomic():
            if ContactConfirmation.objects.filter(pk=confirmation.pk, confirmed_at__isnull=True).update(
                    confirmed_at=timezone.now()):
                audit.log("certification.documentation.contact_confirmed", obj=confirmation.release,
                          organization=confirmation.release.organization, request=request,
                          payload={"email": confirmation.email})
        return render(request, "certification/releases/contact_confirm.html", {"confirmation": confirmation,
                                                                               "done": True})
    return render(request, "certification/releases/contact_confirm.html", {"confirmation": confirmation})
