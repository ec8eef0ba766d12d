"""Public registry pages (registry, certificate with its incident history, badge, verify, concern form)
and the certificate, renewal and appeal actions of staff and organizations
(DESIGN §4, §7). Views check access, call a service in
``certification.certificates``, turn its error into a message, and redirect."""

from __future__ import annotations

import functools
import hashlib
from urllib.parse import quote
from xml.sax.saxutils import escape

from allauth.account.decorators import reauthentication_required
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Case, IntegerField, Value, When
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import get_conditional_response
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from auditors import reports
from certification.certificates import appeals as certificate_appeals
from certification.certificates import attestations, keys, lineage, registry, signing
from certification.certificates import concerns as certificate_concerns
from certification.certificates import incidents
from certification.certificates import services as certificate_services
from certification.certificates.models import Appeal, Certificate, ConcernReport
from certification.certificates.views import decisions, model_signing
from certification.framework import services as framework_services
from certification.framework import texts, tiers
from certification.releases import evidence, presentation
from certification.releases.access import get_application_for_user, require_admin, show_workflow_error
from certification.releases.modelcard import render_card
from certification.releases.models import EvidenceFile
from certification.review import findings
from portal import audit, labels
from portal import organizations as portal_organizations
from portal.validators import plain_text
from portal.views import staff_required

# --- forms ------------------------------------------------------------------------------------------


class RegistryFilterForm(forms.Form):
    q = forms.CharField(label=gettext_lazy("Search"), required=False,
                        help_text=gettext_lazy("Certificate number, organization, model or hub repository id"))
    organization = forms.SlugField(label=gettext_lazy("Organization (short name)"), required=False)
    tier = forms.ChoiceField(label=gettext_lazy("Tier"), required=False,
                             choices=[("", gettext_lazy("Any")), ("1", "1"), ("2", "2"), ("3", "3"), ("4", "4")])
    status = forms.ChoiceField(label=gettext_lazy("Status"), required=False, choices=[
        ("", gettext_lazy("Any")), ("valid", gettext_lazy("Valid")), ("suspended", gettext_lazy("Suspended")),
        ("revoked", gettext_lazy("Revoked")), ("expired", gettext_lazy("Expired")),
        ("superseded", gettext_lazy("Superseded"))])
    framework_version = forms.CharField(label=gettext_lazy("Framework version"), required=False, max_length=20)
    built_on = forms.CharField(
        label=gettext_lazy("Built on"), required=False, max_length=200, validators=[plain_text],
        help_text=gettext_lazy("Fine-tunes, merges, distillations, quantizations and adapters of a model: its "
                               "certificate number, hub repository id or a file's sha256"))


class ReasonForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason"), widget=forms.Textarea(attrs={"rows": 4}))


class ConcernForm(forms.Form):
    summary = forms.CharField(label=gettext_lazy("Summary of the concern"), max_length=200,
                              validators=[plain_text],
                              help_text=gettext_lazy("It becomes the incident's title, which the certificate page "
                                                     "shows once the incident is resolved; the details do not."))
    details = forms.CharField(label=gettext_lazy("Details"), widget=forms.Textarea(attrs={"rows": 6}),
                              help_text=gettext_lazy("What you observed, how to reproduce it, and why it matters. "
                                                     "Do not include instructions that would cause harm."))
    severity = forms.ChoiceField(
        label=gettext_lazy("How serious is it?"), required=False, widget=forms.RadioSelect,
        choices=[*ConcernReport.Severity.choices, ("", gettext_lazy("Not sure: let Alliance staff rate it"))],
        help_text=gettext_lazy("Critical: people can be harmed now. Low: a minor flaw."))
    reporter_email = forms.EmailField(label=gettext_lazy("Your email address"), required=False,
                                      help_text=gettext_lazy("Only if you want to hear what happens: you are told "
                                                             "when the organization acknowledges, investigates and "
                                                             "resolves it."))


class AppealForm(forms.Form):
    grounds = forms.CharField(label=gettext_lazy("Grounds of the appeal"), widget=forms.Textarea(attrs={"rows": 6}),
                              help_text=gettext_lazy("Why the rejection should be reconsidered. You can appeal once."))


class AppealDecisionForm(forms.Form):
    outcome = forms.ChoiceField(label=gettext_lazy("Decision"), widget=forms.RadioSelect, choices=[
        ("grant", gettext_lazy("Grant the appeal (certify)")), ("deny", gettext_lazy("Deny the appeal (final)"))])
    reasons = forms.CharField(label=gettext_lazy("Reasons"), widget=forms.Textarea(attrs={"rows": 5}))


class VerifyForm(forms.Form):
    q = forms.CharField(label=gettext_lazy("Certificate number, file sha256 or hub repository id"),
                        help_text=gettext_lazy("For example RRC-2025-7K3M9Q2D, a 64-digit sha256, or acme/acme-7b"))


class EnvelopeUploadForm(forms.Form):
    envelope = forms.FileField(label=gettext_lazy("Attestation file (DSSE envelope, JSON)"))


MAX_ENVELOPE_BYTES = 1024 * 1024


# --- helpers ----------------------------------------------------------------------------------------


def get_certificate(number: str) -> Certificate:
    cert = registry.base_queryset().select_related("application").filter(number=number.upper()).first()
    if cert is None:
        raise Http404
    return cert


def badge_markdown(cert: Certificate) -> str:
    page = settings.SITE_URL + reverse("certification:certificate-detail", args=[cert.number])
    badge = settings.SITE_URL + reverse("certification:certificate-badge", args=[cert.number])
    return f"[![Responsible Release certificate {cert.number}]({badge})]({page})"


def _revision(cert: Certificate):
    return cert.application.revisions.order_by("-number").first()


# --- registry -----------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _empty_filters_html(language: str) -> str:
    """The fields of the unbound filter form: the same for every visitor in a language,
    so rendered once per process (a fifth of the registry page's time otherwise)."""
    return render_to_string("includes/fields.html", {"form": RegistryFilterForm(), "filters": True})


@require_GET
def registry_list(request: HttpRequest) -> HttpResponse:
    """Search and filters; 25 rows a page by keyset on the id; never a COUNT.
    Queries: the page of certificates with their organization, model and version (1),
    as plain values (bench/registry_bench.py)."""
    # Unbound unless a filter is given: a cursor alone pages the whole registry.
    filtered = any(request.GET.get(name) for name in RegistryFilterForm.base_fields)
    form = RegistryFilterForm(request.GET if filtered else None)
    rows, next_cursor, error = [], None, ""
    params = form.cleaned_data if form.is_valid() else {}
    try:
        qs = registry.search({k: str(v) for k, v in params.items() if v})
        page = registry.paginate(qs, request.GET.get("cursor") or None, registry.PAGE_SIZE,
                                 values=registry.PAGE_ROW_VALUES)
        rows, next_cursor = page.rows, page.next_cursor
    except registry.BadQuery as exc:
        error = str(exc)
    next_url = None
    if next_cursor:
        query = request.GET.copy()
        query["cursor"] = next_cursor
        next_url = "?" + query.urlencode()
    first_url = None
    if request.GET.get("cursor"):
        query = request.GET.copy()
        query.pop("cursor")
        first_url = "?" + query.urlencode()
    now = timezone.now()
    # One reverse for the page, not one a row (a reverse costs as much as the rest of a row).
    detail_url = reverse("certification:certificate-detail", args=["0NUMBER0"])
    for row in rows:
        row["url"] = detail_url.replace("0NUMBER0", quote(row["number"], safe=""))
    filters_html = None if filtered or settings.DEBUG else _empty_filters_html(get_language())
    return render(request, "certification/certificates/list.html", {
        "form": form, "filters_html": filters_html,
        "rows": [(row, row.effective_status(now)) for row in rows], "next_url": next_url,
        "first_url": first_url, "error": error,
    })


def _model_card(content: dict, rules: dict) -> list:
    """The public model card: the frozen sections, labelled, minus the private ones (model access)
    and the evidence (only the files the organization published are listed, below)."""
    sections = presentation.present(content, rules, benchmark_names=presentation.benchmark_names_for(content, rules),
                                    hide_sections=registry.private_sections(rules), include_release=False,
                                    include_artifacts=False, include_evidence=False)
    return [s for s in sections if not s.is_empty]


def rules_fired_for_reader(content: dict, rules: dict, tier: int) -> list[dict]:
    """Why the tier, as the attestation records it (``signing.fired_rules``: ids, tiers and the version's
    texts), with the texts in the reader's language: ``rules`` are the version's rules in that language
    (``texts.in_language``), and the portal's own texts (a declared or raised tier) come from the catalogue."""
    return [{**rule, "text": _(rule["text"])} if rule["id"] in signing.PORTAL_RULE_TEXTS else rule
            for rule in signing.fired_rules(content, rules, tier)]


@require_GET
def certificate_detail(request: HttpRequest, number: str) -> HttpResponse:
    cert = get_certificate(number)
    revision = _revision(cert)
    content = revision.content if revision else {}
    # The framework's texts in the reader's language; the signed attestation keeps the version's own.
    rules = texts.in_language(cert.framework_version.rules)
    frozen_evidence = {e["sha256"] for e in content.get("evidence", [])}
    public_files = [e for e in EvidenceFile.objects.filter(release=cert.release, is_public=True)
                    if e.sha256 in frozen_evidence]
    user = request.user
    is_staff = user.is_authenticated and user.is_alliance_staff
    is_admin = user.is_authenticated and portal_organizations.is_org_admin(user, cert.organization)
    subjects = list(cert.subjects.all())
    context = {
        "certificate": cert,
        "status": cert.effective_status(),
        "revision": revision,
        "rules_fired": rules_fired_for_reader(content, rules, cert.tier),
        "requirements": tiers.requirements_for_tier(rules, cert.tier),
        "sections": _model_card(content, rules),
        "subjects": subjects,
        "public_files": public_files,
        "badge_markdown": badge_markdown(cert),
        "superseded_by": cert.superseded_by.number if cert.superseded_by_id else None,
        "concern_form": ConcernForm(),
        "findings": findings.public_findings(cert.application),
        "audit_summary": reports.audit_summary(cert.application),
        "is_staff": is_staff,
        "is_admin": is_admin,
        **model_signing.model_signing_context(cert, [s.path for s in subjects]),
        "upstream_links": lineage.links_of_certificate(cert),
        "derivatives": lineage.derivatives(cert),
        "incident_history": incidents.public_history(cert),
        "incident_public_after": incidents.public_after(cert).days,
    }
    context["flagged_links"] = [link for link in context["upstream_links"] if link.flags]
    if is_staff:
        context["open_revocation"] = certificate_services.open_revocation(cert)
        context["open_concerns"] = list(cert.concerns.open())
    if is_admin:
        context["renewal"] = certificate_services.renewal_of(cert)
        context["renewal_opens_at"] = certificate_services.renewal_opens_at(cert)
        context["can_renew"] = (context["status"] in ("valid", "expired") and context["renewal"] is None
                                and timezone.now() >= context["renewal_opens_at"])
    return render(request, "certification/certificates/certificate.html", context)


@require_GET
def certificate_print(request: HttpRequest, number: str) -> HttpResponse:
    cert = get_certificate(number)
    revision = _revision(cert)
    return render(request, "certification/certificates/print.html", {
        "certificate": cert, "status": cert.effective_status(), "revision": revision,
        "rules_fired": rules_fired_for_reader(revision.content if revision else {},
                                              texts.in_language(cert.framework_version.rules), cert.tier),
        "page_url": settings.SITE_URL + reverse("certification:certificate-detail", args=[cert.number]),
    })


@require_GET
def certificate_attestation(request: HttpRequest, number: str) -> HttpResponse:
    """The envelope byte for byte as signed."""
    cert = Certificate.objects.filter(number=number.upper()).only("number", "attestation").first()
    if cert is None or cert.attestation is None:
        raise Http404
    data = bytes(cert.attestation)
    response = HttpResponse(data, content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{cert.number}.intoto.json"'
    response["ETag"] = '"' + hashlib.sha256(data).hexdigest()[:40] + '"'
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_GET
def certificate_modelcard(request: HttpRequest, number: str) -> HttpResponse:
    """The certified documentation exported as a Hub model card (README.md)."""
    cert = get_certificate(number)
    revision = _revision(cert)
    content = dict(revision.content)
    private = registry.private_sections(cert.framework_version.rules)
    content["sections"] = {k: v for k, v in content.get("sections", {}).items() if k not in private}
    response = HttpResponse(render_card(content), content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{cert.number}-README.md"'
    return response


@require_GET
def public_evidence(request: HttpRequest, number: str, pk: int) -> HttpResponse:
    """An evidence file the organization marked public, if it is part of the certified revision."""
    cert = get_certificate(number)
    ev = EvidenceFile.objects.filter(pk=pk, release=cert.release, is_public=True).first()
    revision = _revision(cert)
    frozen = {e["sha256"] for e in (revision.content.get("evidence", []) if revision else [])}
    if ev is None or ev.sha256 not in frozen:
        raise Http404
    return evidence.download_response(ev)


# --- badge --------------------------------------------------------------------------------------------

BADGE_COLOURS = {"valid": "#1e6b34", "suspended": "#7a4f00", "revoked": "#b3261e", "expired": "#4a5563",
                 "superseded": "#4a5563"}


def badge_svg(tier: int, status: str) -> str:
    """In the reader's language (the ETag hashes the body, and responses vary on Accept-Language)."""
    left = _("RRC Tier %(tier)d") % {"tier": tier}
    right = labels.label("certificate_status", status).lower()
    lw, rw = 8 + 7 * len(left), 10 + 7 * len(right)
    colour = BADGE_COLOURS.get(status, "#4a5563")
    label = escape(_("Responsible Release certificate: Tier %(tier)d, %(status)s") % {"tier": tier, "status": right})
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{lw + rw}" height="20" role="img" '
        f'aria-label="{label}"><title>{label}</title>'
        f'<rect width="{lw}" height="20" fill="#1d4f91"/><rect x="{lw}" width="{rw}" height="20" fill="{colour}"/>'
        f'<g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">'
        f'<text x="5" y="14">{escape(left)}</text><text x="{lw + 5}" y="14">{escape(right)}</text></g></svg>'
    )


@require_GET
def certificate_badge(request: HttpRequest, number: str) -> HttpResponse:
    """Tier and status as SVG. ETag + ``Cache-Control: no-cache``: image proxies
    revalidate every time, so a status change shows on the next request. One query."""
    cert = Certificate.objects.filter(number=number.upper()).only("tier", "status", "expires_at").first()
    if cert is None:
        raise Http404
    body = badge_svg(cert.tier, cert.effective_status()).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    response = get_conditional_response(request, etag=etag) or HttpResponse(body, content_type="image/svg+xml")
    response["ETag"] = etag
    response["Cache-Control"] = "no-cache"
    response["Access-Control-Allow-Origin"] = "*"
    return response


# --- verify -------------------------------------------------------------------------------------------


def _lookup_kind(q: str) -> dict:
    q = q.strip()
    if registry.SHA256.fullmatch(q):
        return {"sha256": q}
    if "/" in q:
        return {"model": q}
    return {"certificate": q}


def verify_page(request: HttpRequest) -> HttpResponse:
    """Paste a number, a sha256 or a hub repo id; or upload an envelope file to check its
    signature against the published keys, or a model-signing bundle (``<number>.sig``)."""
    form = VerifyForm(request.GET or None)
    # The two upload forms post to this page; the signature form says which it is.
    is_bundle = request.method == "POST" and request.POST.get("check") == "signature"
    upload_form = EnvelopeUploadForm(None if is_bundle else request.POST or None,
                                     None if is_bundle else request.FILES or None)
    bundle_form = (model_signing.BundleUploadForm(request.POST or None, request.FILES or None) if is_bundle
                   else model_signing.BundleUploadForm())
    result, envelope_result, bundle_result = None, None, None
    if request.method == "GET" and form.is_valid() and form.cleaned_data["q"]:
        try:
            certs = registry.verify_lookup(**_lookup_kind(form.cleaned_data["q"]))
        except registry.BadQuery as exc:
            form.add_error("q", str(exc))
        else:
            result = registry.verify_result(certs)
            result["lineage"] = lineage.chain(certs)
            result["flagged_links"] = [link for link in result["lineage"] if link.flags]
    elif is_bundle and bundle_form.is_valid():
        bundle_result = model_signing.check_bundle_upload(bundle_form.cleaned_data["signature"])
    elif request.method == "POST" and not is_bundle and upload_form.is_valid():
        envelope_result = check_envelope_upload(upload_form.cleaned_data["envelope"])
    return render(request, "certification/certificates/verify.html", {
        "form": form, "upload_form": upload_form, "result": result, "envelope_result": envelope_result,
        "bundle_form": bundle_form, "bundle_result": bundle_result,
    })


def check_envelope_upload(upload) -> dict:
    """Signature (published keys, valid at the issue time), then the certificate's current status."""
    if upload.size > MAX_ENVELOPE_BYTES:
        return {"ok": False, "problem": _("The file is larger than an attestation can be.")}
    data = upload.read()
    try:
        verified = attestations.verify_envelope(data, keys.verification_keys())
    except attestations.VerificationError as exc:
        if exc.reason == attestations.VerificationError.MALFORMED:
            return {"ok": False, "problem": _("The file is not an attestation envelope (%(detail)s).")
                    % {"detail": exc.detail}}
        return {"ok": False, "problem": _("The signature does not verify against the published keys (%(reason)s).")
                % {"reason": exc.reason}}
    number = str(verified.predicate.get("certificate", ""))
    certs = registry.verify_lookup(certificate=number) if number else []
    status = registry.verify_result(certs)
    stored_same = bool(certs) and certs[0].attestation is not None and bytes(certs[0].attestation) == data
    return {"ok": True, "number": number, "keyid": verified.keyid, "predicate": verified.predicate,
            "subjects": verified.subjects, "status": status, "stored_same": stored_same}


# --- concerns -----------------------------------------------------------------------------------------


def certificate_concern(request: HttpRequest, number: str) -> HttpResponse:
    cert = get_certificate(number)
    form = ConcernForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if not certificate_concerns.concern_allowed(audit.client_ip(request)):
            return render(request, "certification/certificates/concern.html",
                          {"certificate": cert, "form": form, "limited": True}, status=429)
        try:
            certificate_concerns.report_concern(cert, reporter=request.user, request=request, **form.cleaned_data)
        except framework_services.WorkflowError as exc:
            show_workflow_error(request, exc, form)
        else:
            messages.success(request, _("Thank you. Your concern was sent to the organization's vulnerability "
                                        "contact and to Alliance staff. The organization has a few days to "
                                        "acknowledge it."))
            return redirect("certification:certificate-detail", cert.number)
    return render(request, "certification/certificates/concern.html", {"certificate": cert, "form": form})


@staff_required
@require_GET
def concern_list(request: HttpRequest) -> HttpResponse:
    """Open incidents first (received before acknowledged before under investigation), then the
    others, newest first. Queries: incidents with certificates (1), the overdue ones (1), their
    acknowledgement deadlines (1)."""
    order = Case(*[When(status=status, then=Value(i)) for i, status in enumerate(ConcernReport.OPEN_STATES)],
                 default=Value(len(ConcernReport.OPEN_STATES)), output_field=IntegerField())
    concerns = list(ConcernReport.objects.select_related("certificate__organization", "certificate__release__ai_model")
                    .annotate(open_order=order).order_by("open_order", "-created_at", "-pk")[:200])
    overdue = set(ConcernReport.objects.filter(status=ConcernReport.Status.RECEIVED, pk__in=incidents.overdue_ids())
                  .values_list("pk", flat=True))
    dues = incidents.acknowledgement_dues(concerns)
    return render(request, "certification/certificates/concerns.html", {
        "rows": [(c, dues.get(c.pk) if c.status == ConcernReport.Status.RECEIVED else None, c.pk in overdue)
                 for c in concerns]})


@staff_required
@require_POST
def concern_dismiss(request: HttpRequest, pk: int) -> HttpResponse:
    concern = ConcernReport.objects.select_related("certificate__organization").filter(pk=pk).first()
    if concern is None:
        raise Http404
    try:
        certificate_concerns.dismiss_concern(concern, request.user, request=request)
        messages.success(request, _("Concern dismissed."))
    except framework_services.WorkflowError as exc:
        show_workflow_error(request, exc)
    if request.POST.get("next") == concern.get_absolute_url():  # dismissed from the incident's page
        return redirect(concern.get_absolute_url())
    return redirect("certification:concern-list")


# --- staff actions on a certificate -------------------------------------------------------------------


def _reason_action(request, number: str, title: str, intro: str, run, success: str,
                   consequences: list[str], button: str) -> HttpResponse:
    """A staff action with a reason: the form, then its confirmation page (``decisions.form_decision``)."""
    cert = get_certificate(number)
    initial = {}
    concern = None
    if request.GET.get("concern", "").isdigit() or request.POST.get("concern", "").isdigit():
        concern = cert.concerns.filter(pk=int(request.GET.get("concern") or request.POST.get("concern"))).first()
        if concern is not None:
            initial["reason"] = _("Concern reported: %(summary)s") % {"summary": concern.summary}
    detail = reverse("certification:certificate-detail", args=[cert.number])
    subject = f"{cert.number}: {cert.release.ai_model.name} {cert.release.version} ({cert.organization.name})"
    return decisions.form_decision(
        request, ReasonForm(request.POST or None, initial=initial),
        run=lambda data: run(cert, data["reason"], concern), success=success, done_url=detail,
        confirm={"title": title, "subject": subject, "consequences": consequences, "button": button,
                 "cancel_url": detail, "hidden": {"concern": concern.pk} if concern else {}},
        template="certification/certificates/reason.html",
        context={"certificate": cert, "title": title, "intro": intro, "concern": concern},
    )


@staff_required
@reauthentication_required
def certificate_suspend(request: HttpRequest, number: str) -> HttpResponse:
    return _reason_action(
        request, number, _("Suspend the certificate"),
        _("Verification answers “suspended” from the next request until the certificate is reinstated."),
        lambda cert, reason, concern: certificate_services.suspend(cert, request.user, reason, concern=concern,
                                                           request=request),
        _("The certificate is suspended."),
        [_("The registry, the badge and verification answer “suspended” from the next request."),
         _("The organization's admins are told, with your reason."),
         _("It stays suspended until staff reinstate it.")],
        _("Suspend the certificate"))


@staff_required
@reauthentication_required
def certificate_reinstate(request: HttpRequest, number: str) -> HttpResponse:
    return _reason_action(
        request, number, _("Reinstate the certificate"), _("The certificate becomes valid again."),
        lambda cert, reason, concern: certificate_services.reinstate(cert, request.user, reason, request=request),
        _("The certificate is valid again."),
        [_("The registry, the badge and verification answer “valid” again from the next request."),
         _("The organization's admins are told, with your reason.")],
        _("Reinstate the certificate"))


@staff_required
@reauthentication_required
def certificate_revoke(request: HttpRequest, number: str) -> HttpResponse:
    """First staff member: propose with a reason. Another staff member: confirm."""
    cert = get_certificate(number)
    proposal = certificate_services.open_revocation(cert)
    if proposal is None:
        return _reason_action(
            request, number, _("Propose revocation"),
            _("Revocation is final. Another staff member must confirm it before it takes effect."),
            lambda c, reason, concern: certificate_services.propose_revocation(c, request.user, reason,
                                                                               request=request),
            _("Revocation proposed; another staff member must confirm it."),
            [_("Nothing changes publicly yet: another staff member must confirm the revocation."),
             _("Once confirmed, revocation is final: the certificate is listed as revoked and can never be valid "
               "again.")],
            _("Propose revocation"))
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "cancel":
                certificate_services.cancel_revocation(cert, request.user, request=request)
                messages.success(request, _("The revocation proposal was cancelled."))
            elif action == "confirm":
                certificate_services.confirm_revocation(cert, request.user, request=request)
                messages.success(request, _("The certificate is revoked."))
            else:
                messages.error(request, _("Choose to confirm or to cancel the revocation."))
                return redirect("certification:certificate-revoke", cert.number)
        except framework_services.WorkflowError as exc:
            show_workflow_error(request, exc)
            return redirect("certification:certificate-revoke", cert.number)
        return redirect("certification:certificate-detail", cert.number)
    return render(request, "certification/certificates/revoke_confirm.html", {
        "certificate": cert, "proposal": proposal, "own": proposal.proposed_by_id == request.user.pk})


# --- organizations: renewal ---------------------------------------------------------------------------


@login_required
def certificate_renew(request: HttpRequest, number: str) -> HttpResponse:
    cert = get_certificate(number)
    if not portal_organizations.is_org_member(request.user, cert.organization):
        raise Http404
    if not portal_organizations.is_org_admin(request.user, cert.organization):
        raise PermissionDenied
    if request.method == "POST":
        try:
            app = certificate_services.start_renewal(cert, request.user, request=request)
        except framework_services.WorkflowError as exc:
            show_workflow_error(request, exc)
            return redirect("certification:certificate-detail", cert.number)
        messages.success(request, _("Renewal started, pre-filled from the certified documentation. Check it, "
                                    "update what changed and file the attestation."))
        return redirect("certification:application-detail", app.pk)
    return render(request, "certification/certificates/renew.html", {
        "certificate": cert, "opens_at": certificate_services.renewal_opens_at(cert)})


# --- appeals --------------------------------------------------------------------------------------------


@login_required
def application_appeal(request: HttpRequest, pk: int) -> HttpResponse:
    app = get_application_for_user(request, pk)
    require_admin(request, app.release.organization)
    form = AppealForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            certificate_appeals.file_appeal(app, request.user, form.cleaned_data["grounds"], request=request)
        except framework_services.WorkflowError as exc:
            show_workflow_error(request, exc, form)
        else:
            messages.success(request, _("Your appeal was filed. Staff who took no part in the rejection will decide "
                                        "it within 30 days."))
            return redirect("certification:application-detail", app.pk)
    return render(request, "certification/certificates/appeal.html", {
        "application": app, "form": form, "deadline": certificate_appeals.appeal_deadline(app),
        "can_appeal": certificate_appeals.can_appeal(app),
        "rejection": app.decisions.filter(outcome="reject").first()})


@staff_required
@require_GET
def appeal_list(request: HttpRequest) -> HttpResponse:
    appeals = list(Appeal.objects.select_related("application__release__ai_model__organization", "filed_by")
                   .order_by("status", "filed_at")[:200])
    return render(request, "certification/certificates/appeals.html", {"appeals": appeals})


@staff_required
@reauthentication_required
def appeal_decide(request: HttpRequest, pk: int) -> HttpResponse:
    """The appeal and the decision form; a decision goes through its confirmation page."""
    appeal = (Appeal.objects.select_related("application__release__ai_model__organization",
                                            "application__framework_version", "filed_by").filter(pk=pk).first())
    if appeal is None:
        raise Http404
    app = appeal.application
    form = AppealDecisionForm(request.POST or None)
    involved = request.user.pk in certificate_appeals.involved_staff_ids(app)
    needed = certificate_appeals.appeal_votes_needed(app)
    page = reverse("certification:appeal-decide", args=[appeal.pk])
    outcome = form.data.get("outcome") if form.is_bound else None
    if outcome == "grant":
        consequences = [_("If your decision completes the %(n)d agreeing decision(s) needed, a public certificate "
                          "is issued at once and the organization's admins are told.") % {"n": needed}]
    else:
        consequences = [_("If your decision completes the %(n)d agreeing decision(s) needed, the rejection becomes "
                          "final: the organization cannot appeal again.") % {"n": needed}]
    consequences.append(_("Your decision and reasons are recorded and cannot be changed."))
    return decisions.form_decision(
        request, form,
        run=lambda data: certificate_appeals.decide_appeal(appeal, request.user, data["outcome"], data["reasons"],
                                                           request=request),
        success=_("Your decision on the appeal was recorded."), done_url=page,
        confirm={"title": _("Decide the appeal"), "subject": str(app), "consequences": consequences,
                 "button": _("Record your decision"), "cancel_url": page},
        template="certification/certificates/appeal_decide.html",
        context={"appeal": appeal, "application": app, "involved": involved,
                 "votes": appeal.votes.select_related("decided_by"), "needed": needed,
                 "decisions": app.decisions.select_related("decided_by")},
    )
