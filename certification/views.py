"""Pages of the certification flow: models, releases, documentation, evidence,
applications and staff screening. Views check access, call a service, turn
its error into a message or field errors, and redirect."""

from __future__ import annotations

import difflib
import json
import secrets
from datetime import timedelta

from allauth.account.decorators import reauthentication_required
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template.defaultfilters import filesizeformat
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST

from portal import audit
from portal.models import Membership, hash_secret
from portal.notifications import enqueue_delivery, render_email
from portal.views import current_organization, staff_required

from . import checklist, evidence, services, tiers
from . import forms as f
from .models import (
    AIModel,
    Application,
    BenchmarkResult,
    ContactConfirmation,
    Documentation,
    DocumentationRevision,
    EvidenceFile,
    Release,
)

# --- access helpers (STYLE §5) --------------------------------------------------------------


def _membership(request, org) -> Membership | None:
    return Membership.objects.filter(user=request.user, organization=org).first()


def get_model_for_user(request: HttpRequest, pk: int) -> AIModel:
    model = AIModel.objects.visible_to(request.user).select_related("organization").filter(pk=pk).first()
    if model is None:
        raise Http404
    return model


def get_release_for_user(request: HttpRequest, pk: int) -> Release:
    release = (
        Release.objects.visible_to(request.user)
        .select_related("ai_model__organization")
        .filter(pk=pk)
        .first()
    )
    if release is None:
        raise Http404
    return release


def get_application_for_user(request: HttpRequest, pk: int) -> Application:
    app = (
        Application.objects.visible_to(request.user)
        .select_related("release__ai_model__organization", "framework_version", "owner")
        .filter(pk=pk)
        .first()
    )
    if app is None:
        raise Http404
    return app


def require_member(request, org) -> Membership:
    """Writing needs membership; staff read everything but do not edit drafts."""
    membership = _membership(request, org)
    if membership is None:
        raise PermissionDenied
    return membership


def require_admin(request, org) -> Membership:
    membership = require_member(request, org)
    if not membership.is_admin:
        raise PermissionDenied
    return membership


def _workflow_error(request, exc: services.WorkflowError, form=None) -> None:
    if form is not None:
        for field, errors in exc.errors.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, error)
    else:
        details = [e for errs in exc.errors.values() for e in errs if e != str(exc)]
        messages.error(request, " ".join([str(exc), *details]))


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
    return render(request, "certification/model_list.html", {"org": org, "models": models})


@login_required
def model_create(request: HttpRequest) -> HttpResponse:
    org = current_organization(request)
    if org is None:
        messages.info(request, _("Create or join an organization first."))
        return redirect("portal:organization-create")
    require_member(request, org)
    form = f.AIModelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            model = services.register_model(org, request.user, request=request, **form.cleaned_data)
        except services.WorkflowError as exc:
            _workflow_error(request, exc, form)
        else:
            messages.success(request, _("Model %(name)s registered. Add its first release.") % {"name": model.name})
            return redirect("certification:release-create", model.pk)
    return render(request, "certification/model_form.html", {"form": form, "org": org})


@login_required
@require_GET
def model_detail(request: HttpRequest, pk: int) -> HttpResponse:
    model = get_model_for_user(request, pk)
    releases = model.releases.order_by("-created_at").prefetch_related("applications", "certificates")
    return render(request, "certification/model_detail.html", {"model": model, "releases": releases})


# --- releases ------------------------------------------------------------------------------------


def _release_form_data(form: f.ReleaseForm) -> dict:
    data = dict(form.cleaned_data)
    if not data["emergent_capabilities"]:
        data["emergent_description"] = data.get("emergent_description") or ""
    return data


@login_required
def release_create(request: HttpRequest, pk: int) -> HttpResponse:
    model = get_model_for_user(request, pk)
    require_member(request, model.organization)
    try:
        rules = services.version_in_force().rules
    except services.WorkflowError as exc:
        messages.error(request, str(exc))
        return redirect("certification:model-detail", model.pk)
    form = f.ReleaseForm(request.POST or None, rules=rules)
    if request.method == "POST" and form.is_valid():
        try:
            release = services.create_release(model, request.user, _release_form_data(form), request=request)
        except services.WorkflowError as exc:
            _workflow_error(request, exc, form)
        else:
            messages.success(request, _("Release %(v)s registered.") % {"v": release.version})
            return redirect("certification:release-detail", release.pk)
    return render(request, "certification/release_form.html", {"form": form, "model": model, "creating": True})


@login_required
def release_edit(request: HttpRequest, pk: int) -> HttpResponse:
    release = get_release_for_user(request, pk)
    require_member(request, release.organization)
    rules = services.rules_for_release(release)
    initial = {**release.classification_inputs(), "version": release.version,
               "declared_tier": release.declared_tier, "hub_revision": release.hub_revision}
    form = f.ReleaseForm(request.POST or None, rules=rules, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = _release_form_data(form)
        changed = {k: v for k, v in data.items() if getattr(release, k) != v}
        try:
            services.update_release(release, request.user, changed, request=request)
        except services.WorkflowError as exc:
            _workflow_error(request, exc, form)
        else:
            messages.success(request, _("Release facts saved."))
            return redirect("certification:release-detail", release.pk)
    return render(request, "certification/release_form.html",
                  {"form": form, "model": release.ai_model, "release": release})


def parse_artifact_lines(text: str) -> list[dict]:
    from .manifest import ManifestError, parse_manifest

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
    from .manifest import ManifestError, parse_manifest

    release = get_release_for_user(request, pk)
    require_member(request, release.organization)
    form = f.ArtifactsForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            if form.cleaned_data["manifest_file"]:
                upload = form.cleaned_data["manifest_file"]
                if upload.size > 5 * 1024 * 1024:
                    raise ManifestError(_("The manifest is larger than 5 MB."))
                artifacts = parse_manifest(upload.read())
                field = "manifest_file"
            else:
                field = "lines"
                artifacts = parse_artifact_lines(form.cleaned_data["lines"])
            if not artifacts:
                raise ManifestError(_("List at least one artifact."))
            services.ensure_release_editable(release)
            services.replace_artifacts(release, request.user, artifacts, request=request)
        except ManifestError as exc:
            form.add_error(field, str(exc))
        except services.WorkflowError as exc:
            _workflow_error(request, exc, form)
        else:
            messages.success(request, _("%(n)d artifacts saved.") % {"n": len(artifacts)})
            return redirect("certification:release-detail", release.pk)
    if request.method == "GET":
        form = f.ArtifactsForm(initial={"lines": "\n".join(
            f"{a.path}, {a.size}, {a.sha256}" for a in release.artifacts.all())})
    return render(request, "certification/release_artifacts.html", {"form": form, "release": release})


@login_required
@require_GET
def release_detail(request: HttpRequest, pk: int) -> HttpResponse:
    release = get_release_for_user(request, pk)
    app = services.editable_application(release) or release.applications.order_by("-created_at").first()
    fv = app.framework_version if app else services.version_in_force()
    rules = fv.rules
    classification = services.classify_release(release, rules)
    tier = services.effective_tier(release, rules)
    doc = Documentation.objects.filter(release=release).first()
    items = checklist.build(release, tier, rules, doc)
    membership = _membership(request, release.organization)
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
        "gates": services.open_gates(app) if app and app.status == Application.Status.IN_REVIEW else [],
    }
    return render(request, "certification/release_detail.html", context)


# --- documentation sections ---------------------------------------------------------------------

SECTION_FORMS = {
    "model_card": f.ModelCardForm,
    "training_data": f.TrainingDataForm,
    "license": f.LicenseForm,
    "vulnerability_contact": f.ContactForm,
    "compute": f.ComputeForm,
    "red_teaming_report": f.ReportForm,
    "bias_report": f.ReportForm,
    "access_instructions": f.AccessForm,
    "rollout_plan": f.SectionForm,
    "domain_risk_assessments": f.DomainRiskForm,
    "safety_benchmarks": f.SectionForm,
}


def _section_form(section: str, release: Release, rules: dict, data=None, initial=None):
    form_class = SECTION_FORMS[section]
    if form_class is f.DomainRiskForm:
        labels = dict(f.domain_choices(rules))
        domains = [(d, labels.get(d, d)) for d in release.sensitive_domains]
        init = {f"assessment_{k}": v for k, v in (initial or {}).get("assessments", {}).items()}
        return form_class(data, domains=domains, initial=init, prefix="s")
    return form_class(data, initial=initial, prefix="s")


def send_contact_confirmation(release: Release, email: str) -> None:
    token = secrets.token_urlsafe(32)
    ContactConfirmation.objects.create(release=release, email=email.lower(), token_hash=hash_secret(token))
    from django.conf import settings

    from portal.models import OutboxEmail

    link = settings.SITE_URL + reverse("certification:contact-confirm", args=[token])
    subject, text, html = render_email("contact-confirmation", {"release": release, "link": link, "email": email})
    row = OutboxEmail.objects.create(to=email, subject=subject, body_text=text, body_html=html)
    transaction.on_commit(lambda: enqueue_delivery([row.pk]))


@login_required
def section_edit(request: HttpRequest, pk: int, section: str) -> HttpResponse:
    release = get_release_for_user(request, pk)
    if section not in SECTION_FORMS:
        raise Http404
    rules = services.rules_for_release(release)
    tier = services.effective_tier(release, rules)
    requirement = next((r for r in tiers.requirements_for_tier(rules, 4) if r["id"] == section), None)
    if requirement is None:
        raise Http404
    doc, _created = Documentation.objects.get_or_create(release=release)
    current = doc.section(section)
    can_edit = _membership(request, release.organization) is not None
    form = _section_form(section, release, rules, request.POST if request.method == "POST" else None, current)
    formset = None
    if section == "training_data":
        formset = f.SourceFormSet(request.POST if request.method == "POST" else None,
                                  initial=current.get("sources") or [], prefix="sources")
    elif section == "rollout_plan":
        formset = f.RolloutFormSet(request.POST if request.method == "POST" else None,
                                   initial=current.get("stages") or [], prefix="stages")
    benchmark_form = custom_form = None
    if section == "safety_benchmarks":
        proposing = request.method == "POST" and "propose" in request.POST
        custom_form = f.CustomBenchmarkForm(request.POST if proposing else None, prefix="c")
        benchmark_form = f.BenchmarkResultForm(request.POST if request.method == "POST" and not proposing else None,
                                               release=release, prefix="b")
        if proposing:
            if not can_edit:
                raise PermissionDenied
            if custom_form.is_valid():
                benchmark = services.propose_benchmark(release.organization, request.user, request=request,
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
                        services.add_benchmark_result(release, request.user, request=request,
                                                      **benchmark_form.cleaned_data)
                    else:
                        data = form.to_data()
                        if section == "training_data":
                            data["sources"] = [
                                {k: (str(v) if v is not None and k == "share_pct" else v) for k, v in row.items()}
                                for row in formset.cleaned_data if row and row.get("name")
                            ]
                        elif section == "rollout_plan":
                            data = {"stages": [
                                {"audience": row["audience"], "planned_date": row["planned_date"].isoformat()}
                                for row in formset.cleaned_data if row and row.get("audience")
                            ]}
                        if section == "vulnerability_contact":
                            data["email"] = (data.get("email") or "").lower()
                        services.update_section(release, request.user, section, data, request=request)
                        if section == "vulnerability_contact" and data["email"] and not ContactConfirmation.objects.filter(
                            release=release, email=data["email"], confirmed_at__isnull=False
                        ).exists():
                            send_contact_confirmation(release, data["email"])
                            messages.info(request, _("We sent a confirmation link to %(email)s.") % data)
            except services.WorkflowError as exc:
                _workflow_error(request, exc, form)
            else:
                messages.success(request, _("%(section)s saved.") % {"section": requirement["title"]})
                if section == "safety_benchmarks":
                    return redirect("certification:section-edit", release.pk, section)
                return redirect("certification:release-detail", release.pk)
    items = {item.id: item for item in checklist.build(release, tier, rules, doc)}
    context = {
        "release": release,
        "section": section,
        "requirement": requirement,
        "item": items.get(section),
        "form": form,
        "formset": formset,
        "benchmark_form": benchmark_form,
        "custom_form": custom_form,
        "results": BenchmarkResult.objects.filter(release=release).select_related("benchmark")
        if section == "safety_benchmarks" else [],
        "section_evidence": release.evidence_files.filter(section=section),
        "evidence_form": f.EvidenceForm(sections=[(section, requirement["title"])], initial={"section": section}),
        "can_edit": can_edit,
    }
    return render(request, "certification/section_form.html", context)


@login_required
@require_POST
def benchmark_delete(request: HttpRequest, pk: int, result_pk: int) -> HttpResponse:
    release = get_release_for_user(request, pk)
    require_member(request, release.organization)
    result = get_object_or_404(BenchmarkResult, pk=result_pk, release=release)
    try:
        services.delete_benchmark_result(result, request.user, request=request)
        messages.success(request, _("Result removed."))
    except services.WorkflowError as exc:
        _workflow_error(request, exc)
    return redirect("certification:section-edit", release.pk, "safety_benchmarks")


def contact_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The link sent to the vulnerability contact; works without an account."""
    confirmation = ContactConfirmation.objects.select_related("release__ai_model").filter(
        token_hash=hash_secret(token)).first()
    if confirmation is None:
        return render(request, "certification/contact_confirm.html", {"problem": _("This link is not valid.")},
                      status=404)
    if request.method == "POST":
        with transaction.atomic():
            if ContactConfirmation.objects.filter(pk=confirmation.pk, confirmed_at__isnull=True).update(
                    confirmed_at=timezone.now()):
                audit.log("certification.documentation.contact_confirmed", obj=confirmation.release,
                          organization=confirmation.release.organization, request=request,
                          payload={"email": confirmation.email})
        return render(request, "certification/contact_confirm.html", {"confirmation": confirmation, "done": True})
    return render(request, "certification/contact_confirm.html", {"confirmation": confirmation})


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
    form = f.EvidenceForm(request.POST, request.FILES, sections=[(s, s) for s in checklist.SECTION_IDS])
    if not form.is_valid():
        messages.error(request, " ".join(e for errs in form.errors.values() for e in errs))
        return _upload_done(request, back)
    try:
        services.ensure_release_editable(release)
        stored = evidence.store(release, form.cleaned_data["file"], request.user, section=form.cleaned_data["section"],
                                is_public=form.cleaned_data["is_public"], request=request)
    except (evidence.EvidenceError, services.WorkflowError) as exc:
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


def get_evidence_for_user(request: HttpRequest, pk: int) -> EvidenceFile:
    ev = EvidenceFile.objects.select_related("release__ai_model__organization").filter(pk=pk).first()
    if ev is None:
        raise Http404
    if request.user.is_alliance_staff or _membership(request, ev.release.organization) is not None:
        return ev
    for check in EVIDENCE_ACCESS_CHECKS:  # engaged auditors, enrolled evaluators (later work items)
        if check(request.user, ev):
            return ev
    raise Http404


EVIDENCE_ACCESS_CHECKS: list = []


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
        services.ensure_release_editable(release)
        evidence.delete(ev, request.user, request=request)
        messages.success(request, _("File deleted."))
    except services.WorkflowError as exc:
        _workflow_error(request, exc)
    return redirect("certification:release-detail", release.pk)


# --- applications ----------------------------------------------------------------------------------


@login_required
@require_POST
def application_start(request: HttpRequest, pk: int) -> HttpResponse:
    release = get_release_for_user(request, pk)
    require_member(request, release.organization)
    try:
        app = services.start_application(release, request.user, request=request)
    except services.WorkflowError as exc:
        _workflow_error(request, exc)
        return redirect("certification:release-detail", release.pk)
    return redirect("certification:application-attest", app.pk)


@login_required
@require_GET
def application_detail(request: HttpRequest, pk: int) -> HttpResponse:
    app = get_application_for_user(request, pk)
    membership = _membership(request, app.release.organization)
    revisions = list(app.revisions.order_by("number").select_related("attestation"))
    context = {
        "application": app,
        "release": app.release,
        "membership": membership,
        "revisions": revisions,
        "transitions": app.transitions.select_related("actor"),
        "change_requests": app.change_requests.all(),
        "decisions": app.decisions.select_related("decided_by"),
        "gates": services.open_gates(app) if app.status == Application.Status.IN_REVIEW else [],
        "is_staff": request.user.is_alliance_staff,
        "certificate": getattr(app, "certificate", None) if app.status == Application.Status.CERTIFIED else None,
        "deadlines": _deadlines_for(app),
        "reject_form": f.ReasonForm(prefix="reject"),
        "hand_over_form": f.HandOverForm() if request.user.is_alliance_staff else None,
        "sections": checklist.SECTION_IDS,
    }
    return render(request, "certification/application_detail.html", context)


def _deadlines_for(app):
    from portal.models import Deadline

    return Deadline.objects.for_object(app).filter(state__in=[Deadline.State.OPEN, Deadline.State.PASSED])


@login_required
@reauthentication_required
def application_attest(request: HttpRequest, pk: int) -> HttpResponse:
    """Check your answers, then file the attestation (organization admins, after re-authentication)."""
    app = get_application_for_user(request, pk)
    membership = require_member(request, app.release.organization)
    rules = app.framework_version.rules
    tier = services.effective_tier(app.release, rules)
    statements = tiers.attestation_statements_for_tier(rules, tier)
    form = f.AttestationForm(request.POST or None, statements=statements,
                             initial={"signer_name": request.user.name})
    if request.method == "POST":
        if not membership.is_admin:
            raise PermissionDenied
        if form.is_valid():
            try:
                services.submit_application(
                    app, request.user, signer_name=form.cleaned_data["signer_name"],
                    signer_title=form.cleaned_data["signer_title"], affirmed=form.affirmed(), request=request,
                )
            except services.WorkflowError as exc:
                _workflow_error(request, exc, form)
            else:
                return render(request, "certification/submitted.html", {"application": app})
    doc = Documentation.objects.filter(release=app.release).first()
    context = {
        "application": app,
        "release": app.release,
        "tier": tier,
        "form": form,
        "items": checklist.build(app.release, tier, rules, doc),
        "documentation": doc,
        "results": app.release.benchmark_results.select_related("benchmark"),
        "artifacts": app.release.artifacts.all(),
        "evidence_files": app.release.evidence_files.all(),
        "is_admin": membership.is_admin,
        "open_change_request": app.change_requests.filter(resolved_at__isnull=True).first(),
    }
    return render(request, "certification/attest.html", context)


@login_required
def application_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    app = get_application_for_user(request, pk)
    require_admin(request, app.release.organization)
    if request.method == "POST":
        try:
            services.withdraw(app, request.user, request=request)
            messages.success(request, _("The application was withdrawn."))
        except services.WorkflowError as exc:
            _workflow_error(request, exc)
        return redirect("certification:application-detail", app.pk)
    return render(request, "certification/confirm.html", {
        "application": app, "title": _("Withdraw the application?"),
        "text": _("Staff stop reviewing it. You can start a new application later."),
        "button": _("Withdraw"), "danger": True})


def _section_diff(old: dict, new: dict) -> list[dict]:
    rows = []
    keys = sorted(set(old) | set(new))
    for key in keys:
        a = json.dumps(old.get(key), indent=2, sort_keys=True, ensure_ascii=False).splitlines()
        b = json.dumps(new.get(key), indent=2, sort_keys=True, ensure_ascii=False).splitlines()
        if a != b:
            rows.append({"key": key, "diff": "\n".join(difflib.unified_diff(a, b, "before", "after", lineterm=""))})
    return rows


@login_required
@require_GET
def revision_detail(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    app = get_application_for_user(request, pk)
    revision = get_object_or_404(DocumentationRevision, application=app, number=number)
    diff = None
    compare = request.GET.get("compare")
    if compare and compare.isdigit():
        other = DocumentationRevision.objects.filter(application=app, number=int(compare)).first()
        if other is not None:
            old, new = (other.content, revision.content)
            flat_old = {**{f"section {k}": v for k, v in old.get("sections", {}).items()},
                        **{k: v for k, v in old.items() if k != "sections"}}
            flat_new = {**{f"section {k}": v for k, v in new.get("sections", {}).items()},
                        **{k: v for k, v in new.items() if k != "sections"}}
            diff = {"other": other, "rows": _section_diff(flat_old, flat_new)}
    return render(request, "certification/revision_detail.html", {
        "application": app, "revision": revision, "diff": diff,
        "content_json": json.dumps(revision.content, indent=2, sort_keys=True, ensure_ascii=False),
        "revisions": app.revisions.order_by("number"),
    })


# --- staff --------------------------------------------------------------------------------------------


@staff_required
@require_GET
def screening_queue(request: HttpRequest) -> HttpResponse:
    """Applications waiting for staff, oldest first. A fixed number of queries at any size."""
    form = f.ScreeningFilterForm(request.GET or None)
    qs = (
        Application.objects.filter(status__in=[
            Application.Status.SUBMITTED, Application.Status.SCREENING, Application.Status.IN_REVIEW,
            Application.Status.DECISION_PENDING])
        .select_related("release__ai_model__organization", "framework_version", "owner")
        .order_by("submitted_at", "pk")
    )
    if form.is_valid():
        data = form.cleaned_data
        if data.get("tier"):
            qs = qs.filter(tier=data["tier"])
        if data.get("min_age_days") is not None:
            qs = qs.filter(submitted_at__lte=timezone.now() - timedelta(days=data["min_age_days"]))
        if data.get("framework_version"):
            qs = qs.filter(framework_version__version=data["framework_version"])
        if data.get("owner") == "me":
            qs = qs.filter(owner=request.user)
        elif data.get("owner") == "none":
            qs = qs.filter(owner__isnull=True)
    # Staff queues are bounded; the page count costs one COUNT query.
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(request, "certification/screening_queue.html", {"form": form, "applications": page,
                                                                   "page": page, "now": timezone.now()})


def _staff_action(request, pk: int, action, success: str) -> HttpResponse:
    app = get_application_for_user(request, pk)
    try:
        action(app, request.user, request=request)
        messages.success(request, success)
    except services.WorkflowError as exc:
        _workflow_error(request, exc)
    return redirect("certification:application-detail", app.pk)


@staff_required
@require_POST
def application_screen(request: HttpRequest, pk: int) -> HttpResponse:
    return _staff_action(request, pk, services.start_screening, _("You are screening this application and own it."))


@staff_required
@require_POST
def application_accept(request: HttpRequest, pk: int) -> HttpResponse:
    return _staff_action(request, pk, services.accept_into_review, _("Accepted into review."))


@staff_required
@require_POST
def application_complete_review(request: HttpRequest, pk: int) -> HttpResponse:
    return _staff_action(request, pk, services.complete_review, _("Review marked complete."))


@staff_required
@require_POST
def application_approve(request: HttpRequest, pk: int) -> HttpResponse:
    return _staff_action(request, pk, services.approve, _("Approval recorded."))


def _form_action(request, form, run, success: str, done_url: str, context: dict) -> HttpResponse:
    """GET shows the form; a valid POST runs the service, its error lands on the form."""
    if request.method == "POST" and form.is_valid():
        try:
            run(form.cleaned_data)
        except services.WorkflowError as exc:
            _workflow_error(request, exc, form)
        else:
            messages.success(request, success)
            return redirect(done_url)
    return render(request, "certification/reason_form.html", {"form": form, **context})


@staff_required
def application_reject(request: HttpRequest, pk: int) -> HttpResponse:
    app = get_application_for_user(request, pk)
    return _form_action(
        request, f.ReasonForm(request.POST or None, prefix="reject"),
        lambda data: services.reject(app, request.user, data["reasons"], request=request),
        _("The application was rejected."), reverse("certification:application-detail", args=[app.pk]),
        {"application": app, "title": _("Reject the application")},
    )


@staff_required
def application_hand_over(request: HttpRequest, pk: int) -> HttpResponse:
    app = get_application_for_user(request, pk)
    return _form_action(
        request, f.HandOverForm(request.POST or None),
        lambda data: services.hand_over(app, request.user, data["owner"], request=request),
        _("Ownership handed over."), reverse("certification:application-detail", args=[app.pk]),
        {"application": app, "title": _("Hand the application over")},
    )


@staff_required
def application_request_changes(request: HttpRequest, pk: int) -> HttpResponse:
    app = get_application_for_user(request, pk)
    rules = app.framework_version.rules
    requirements = [r for r in tiers.requirements_for_tier(rules, app.tier or 1) if r["kind"] != "process"]
    from django import forms as dj_forms

    form = dj_forms.Form(request.POST or None)
    for r in requirements:
        form.fields[r["id"]] = dj_forms.CharField(label=r["title"], required=False,
                                                  widget=dj_forms.Textarea(attrs={"rows": 2}))
    if request.method == "POST" and form.is_valid():
        try:
            services.request_changes(app, request.user, form.cleaned_data, request=request)
        except services.WorkflowError as exc:
            _workflow_error(request, exc, form)
        else:
            messages.success(request, _("Changes requested; the organization has been told."))
            return redirect("certification:application-detail", app.pk)
    return render(request, "certification/reason_form.html", {
        "application": app, "form": form, "title": _("Request changes"),
        "intro": _("Write a comment for each section that needs a change. Leave the others empty.")})


@staff_required
def raise_tier(request: HttpRequest, pk: int) -> HttpResponse:
    release = get_release_for_user(request, pk)
    return _form_action(
        request, f.RaiseTierForm(request.POST or None),
        lambda data: services.raise_tier(release, request.user, data["tier"], data["reason"], request=request),
        _("Tier raised."), reverse("certification:release-detail", args=[release.pk]),
        {"release": release, "title": _("Raise the tier")},
    )


@staff_required
def benchmark_list(request: HttpRequest) -> HttpResponse:
    """Custom benchmarks proposed by organizations, for staff to mark established."""
    from .models import Benchmark

    if request.method == "POST":
        benchmark = get_object_or_404(Benchmark, pk=request.POST.get("benchmark"))
        try:
            services.establish_benchmark(benchmark, request.user, request=request)
            messages.success(request, _("%(name)s is now established.") % {"name": benchmark.name})
        except services.WorkflowError as exc:
            _workflow_error(request, exc)
        return redirect("certification:benchmark-list")
    return render(request, "certification/benchmark_list.html", {
        "proposed": Benchmark.objects.filter(established=False).select_related("proposed_by"),
        "catalogue": Benchmark.objects.filter(established=True).select_related("proposed_by"),
    })
