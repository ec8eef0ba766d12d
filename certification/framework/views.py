"""Public tier check and framework-version pages; staff drafting, editing and
publishing of versions (DESIGN §2, §2.1-§2.4).

Every number, list and text shown here is read from a FrameworkVersion's rules.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from certification.framework import changes, services, texts, tiers
from certification.framework import rules as framework_rules
from certification.framework.forms import (
    FrameworkPublishForm,
    FrameworkRulesForm,
    FrameworkTextsForm,
    FrameworkVersionCreateForm,
    TierCheckForm,
)
from certification.framework.models import FrameworkVersion
from portal import labels
from portal.canonical import canonical_sha256
from portal.views import staff_required

TIERS = (1, 2, 3, 4)


# --- access helpers ---------------------------------------------------------------------------


def _is_staff(request: HttpRequest) -> bool:
    return request.user.is_authenticated and request.user.is_alliance_staff


def get_version_for_user(request: HttpRequest, version: str) -> FrameworkVersion:
    """A published version for anyone; a draft for staff only (404 for everyone else)."""
    fv = FrameworkVersion.objects.filter(version=version).first()
    if fv is None or (not fv.is_published and not _is_staff(request)):
        raise Http404
    return fv


# --- readable rules -----------------------------------------------------------------------------


def _recipient_label(recipient: str) -> str:
    labels = {
        "auditor": _("the auditor"),
        "owner": _("the application owner"),
        "org_admins": _("organization admins"),
        "enrolled_evaluators": _("enrolled evaluators"),
        "deciding_staff": _("the deciding staff"),
        "accredited_person": _("the auditor or evaluator"),
        "staff": _("staff"),
    }
    return labels.get(recipient, recipient.replace("_", " "))


def _better_when(entry: dict[str, Any]) -> str:
    how = entry.get("better_when", "")
    if how == "lower":
        return _("lower")
    if how == "higher":
        return _("higher")
    if how == "closer_to":
        return _("closer to %(target)s") % {"target": entry.get("target")}
    if how == "higher_grade":
        grades = entry.get("grades") or []
        if grades:
            return _("higher grade (%(worst)s to %(best)s)") % {"worst": grades[0], "best": grades[-1]}
        return _("higher grade")
    return str(how)


_days = changes.days_text
_deadline_length = changes.length_text


def _deadline_reminders(entry: dict[str, Any]) -> str:
    parts = []
    for reminder in entry.get("reminders", []):
        who = ", ".join(_recipient_label(r) for r in reminder.get("recipients", []))
        parts.append(_("%(who)s at T-%(days)dd") % {"who": who, "days": reminder["days_before"]})
    return "; ".join(parts)


def _expanded_rules(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The rule table with per-value rules expanded, one row per value (as classify reports them)."""
    rows = []
    for rule in spec.get("rules", []):
        kind = rule.get("kind")
        options = {"capability": spec.get("capabilities", []), "sensitive_domain": spec.get("sensitive_domains", [])}
        if kind in options:
            for option in options[kind]:
                rows.append(
                    {
                        "id": f"{rule['id']}:{option['id']}",
                        "tier": rule["tier"],
                        "text": rule["text"].format(label=option["label"], id=option["id"]),
                    }
                )
        else:
            rows.append({"id": rule["id"], "tier": rule["tier"], "text": rule["text"]})
    return rows


def _requirement_matrix(rules: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of the §2.2 table: each cell is the tier's detail text, "yes", or empty."""
    rows = []
    for req in rules.get("requirements", []):
        details = {d["tier"]: d["text"] for d in req.get("tier_details", [])}
        cells = [details.get(t) or (_("yes") if t in req.get("tiers", []) else "") for t in TIERS]
        rows.append({"title": req.get("title", req.get("id")), "description": req.get("description", ""), "cells": cells})
    settings = {entry["tier"]: entry for entry in rules.get("tiers", [])}
    if settings:

        def approvals(t: int) -> str:
            entry = settings.get(t, {})
            n = entry.get("approvals_required", 1)
            if entry.get("approvals_distinct_staff"):
                return _("%(n)d distinct staff") % {"n": n}
            return _("%(n)d staff") % {"n": n}

        rows.append({"title": _("Approvals needed to certify"), "description": "",
                     "cells": [approvals(t) if t in settings else "" for t in TIERS]})
        rows.append({"title": _("Certificate validity"), "description": "",
                     "cells": [_days(settings[t]["certificate_validity_days"])
                               if "certificate_validity_days" in settings.get(t, {}) else "" for t in TIERS]})
    return rows


def rules_context(rules: dict[str, Any]) -> dict[str, Any]:
    """Everything the version page shows, in display order. Tolerates an
    incomplete draft: missing parts are simply not shown."""
    spec = rules.get("classification", {}) or {}
    categories = {c["id"]: c["label"] for c in rules.get("benchmarks", {}).get("categories", [])}
    benchmarks = [
        {
            "id": b["id"],
            "name": b.get("name", b["id"]),
            "category": categories.get(b.get("category"), b.get("category")),
            "headline_metric": b.get("headline_metric", ""),
            "better_when": _better_when(b),
        }
        for b in rules.get("benchmarks", {}).get("catalogue", [])
    ]
    statements = [
        {
            "number": s["number"],
            "text": s["text"],
            "all_tiers": sorted(s.get("tiers", [])) == list(TIERS),
            "tiers": ", ".join(str(t) for t in sorted(s.get("tiers", []))),
        }
        for s in sorted(rules.get("attestation_statements", []), key=lambda s: s["number"])
    ]
    deadlines = [
        {
            "title": d.get("title", d.get("kind")),
            "length": _deadline_length(d),
            "reminders": _deadline_reminders(d),
            "on_due": d.get("on_due_text", ""),
        }
        for d in rules.get("deadlines", [])
    ]
    validities = sorted({t.get("certificate_validity_days") for t in rules.get("tiers", [])} - {None})
    return {
        "parameter_range": (
            {"min": f"{spec['parameter_count']['min']:,}", "max": f"{spec['parameter_count']['max']:,}"}
            if spec.get("parameter_count")
            else None
        ),
        "tier_rules": _expanded_rules(spec),
        "capabilities": spec.get("capabilities", []),
        "sensitive_domains": spec.get("sensitive_domains", []),
        "requirement_rows": _requirement_matrix(rules),
        "statements": statements,
        "benchmarks": benchmarks,
        "min_benchmarks": rules.get("benchmarks", {}).get("min_benchmarks"),
        "deadlines": deadlines,
        "validities": validities,
    }


# --- public pages -------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def tier_check(request: HttpRequest) -> HttpResponse:
    """'Which tier is my model?': classify under the version in force, no login, no JavaScript."""
    try:
        fv = services.version_in_force()
    except services.WorkflowError as exc:
        return render(request, "certification/framework/tier_check.html", {"unavailable": str(exc)}, status=503)
    # The version's texts (rule texts, labels, requirements) in the reader's language.
    rules = texts.in_language(fv.rules)
    # A GET with answers in the query string (a bookmarked or shared result) classifies too.
    if request.method == "POST":
        form = TierCheckForm(request.POST, rules=rules)
    elif "parameter_count" in request.GET:
        form = TierCheckForm(request.GET, rules=rules)
    else:
        form = TierCheckForm(rules=rules)
    result = settings = None
    if form.is_bound and form.is_valid():
        result = form.cleaned_data["classification"]
        settings = tiers.tier_settings(rules, result.tier)
    return render(
        request,
        "certification/framework/tier_check.html",
        {"form": form, "version": fv, "result": result, "tier_settings": settings},
    )


def version_list(request: HttpRequest) -> HttpResponse:
    qs = FrameworkVersion.objects.all() if _is_staff(request) else FrameworkVersion.objects.published()
    versions = list(qs.order_by("status", "-effective_from", "-version"))
    in_force = FrameworkVersion.objects.in_force()
    return render(
        request,
        "certification/framework/list.html",
        {"versions": versions, "in_force": in_force, "now": timezone.now(), "is_staff": _is_staff(request)},
    )


def version_detail(request: HttpRequest, version: str) -> HttpResponse:
    fv = get_version_for_user(request, version)
    in_force = FrameworkVersion.objects.in_force()
    context = {"version": fv, "in_force": in_force, "now": timezone.now(), "is_staff": _is_staff(request),
               "review_by": framework_rules.review_by(fv), "previous": services.previous_version(fv)}
    try:
        context.update(rules_context(texts.in_language(fv.rules)))
    except (KeyError, TypeError, AttributeError, ValueError, IndexError):
        # Only a draft can hold rules this broken (publishing validates them).
        context["rules_unreadable"] = True
    return render(request, "certification/framework/detail.html", context)


def version_changes(request: HttpRequest, version: str) -> HttpResponse:
    """What a version changes from the one before it, in words (public for published versions)."""
    fv = get_version_for_user(request, version)
    previous = services.previous_version(fv)
    sections = _changes_or_none(previous, fv)
    return render(request, "certification/framework/changes.html", {
        "version": fv, "previous": previous, "sections": sections, "unreadable": sections is None,
        "is_staff": _is_staff(request)})


def _changes_or_none(previous: FrameworkVersion | None, fv: FrameworkVersion) -> list | None:
    if previous is None:
        return []
    try:
        return changes.rule_changes(texts.in_language(previous.rules), texts.in_language(fv.rules))
    except (KeyError, TypeError, AttributeError, ValueError, IndexError):
        return None  # only a draft's rules can be this broken (publishing validates them)


# --- staff --------------------------------------------------------------------------------------------


@staff_required
@require_http_methods(["GET", "POST"])
def version_create(request: HttpRequest) -> HttpResponse:
    form = FrameworkVersionCreateForm(request.POST) if request.method == "POST" else FrameworkVersionCreateForm()
    if request.method == "POST" and form.is_valid():
        try:
            fv = services.draft_framework_version(request.user, form.cleaned_data["version"], request=request)
        except services.WorkflowError as exc:
            for field, errors in exc.errors.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            messages.success(request, _("Draft %(v)s created from the latest published version.") % {"v": fv.version})
            return redirect("certification:framework-edit", version=fv.version)
    base = FrameworkVersion.objects.published().order_by("-effective_from").first()
    return render(request, "certification/framework/form.html", {"form": form, "mode": "create", "base": base})


@staff_required
@require_http_methods(["GET", "POST"])
def version_edit(request: HttpRequest, version: str) -> HttpResponse:
    fv = get_version_for_user(request, version)
    if fv.is_published:
        messages.error(request, _("A published version cannot change. Draft a new version."))
        return redirect("certification:framework-detail", version=fv.version)
    if request.method == "POST":
        form = FrameworkRulesForm(request.POST)
        if form.is_valid():
            try:
                services.update_framework_rules(fv, request.user, form.cleaned_data["rules"], request=request)
            except services.WorkflowError as exc:
                for errors in exc.errors.values():
                    for error in errors:
                        # Every refusal here is about the rules document, the only field.
                        form.add_error("rules", error)
            else:
                messages.success(request, _("The rules of draft %(v)s are saved.") % {"v": fv.version})
                return redirect("certification:framework-detail", version=fv.version)
    else:
        form = FrameworkRulesForm(initial={"rules": json.dumps(fv.rules, indent=2, ensure_ascii=False)})
    return render(request, "certification/framework/form.html", {"form": form, "mode": "edit", "version": fv})


@staff_required
@require_http_methods(["GET", "POST"])
def version_publish(request: HttpRequest, version: str) -> HttpResponse:
    fv = get_version_for_user(request, version)
    if fv.is_published:
        messages.error(request, _("This version is already published."))
        return redirect("certification:framework-detail", version=fv.version)
    form = FrameworkPublishForm(request.POST) if request.method == "POST" else FrameworkPublishForm()
    if request.method == "POST" and form.is_valid():
        try:
            services.publish_framework_version(fv, request.user, form.effective_from, request=request)
        except services.WorkflowError as exc:
            messages.error(request, str(exc))
            return redirect("certification:framework-detail", version=fv.version)
        messages.success(
            request,
            _("Version %(v)s is published; it is in force from %(when)s.")
            % {"v": fv.version, "when": labels.day(form.cleaned_data["effective_date"])},
        )
        return redirect("certification:framework-detail", version=fv.version)
    try:
        digest = canonical_sha256(fv.rules)
    except Exception:  # rules that cannot be hashed are refused by the edit form
        digest = ""
    base = FrameworkVersion.objects.in_force() or services.previous_version(fv)
    return render(request, "certification/framework/form.html", {
        "form": form, "mode": "publish", "version": fv, "digest": digest, "base": base,
        "sections": _changes_or_none(base, fv), "missing": _missing_or_none(fv)})


def _missing_or_none(fv: FrameworkVersion) -> list | None:
    """The texts a draft's data does not translate yet, per language (publishing refuses nothing for them)."""
    try:
        return texts.missing(fv.rules)
    except (KeyError, TypeError, AttributeError, ValueError):
        return None


@staff_required
@require_http_methods(["GET", "POST"])
def version_texts(request: HttpRequest, version: str) -> HttpResponse:
    """A draft's texts in the other languages, each next to its English (issue 17)."""
    fv = get_version_for_user(request, version)
    if fv.is_published:
        messages.error(request, _("A published version cannot change. Draft a new version."))
        return redirect("certification:framework-detail", version=fv.version)
    form = FrameworkTextsForm(request.POST or None, rules=fv.rules)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_framework_translations(fv, request.user, form.translations(), request=request)
        except services.WorkflowError as exc:
            for errors in exc.errors.values():
                for error in errors:
                    form.add_error(None, error)
        else:
            messages.success(request, _("The translations of draft %(v)s are saved.") % {"v": fv.version})
            return redirect("certification:framework-texts", version=fv.version)
    missing = [(name, len(found)) for _code, name, found in texts.missing(fv.rules)]
    return render(request, "certification/framework/texts.html", {
        "form": form, "version": fv, "rows": form.rows(), "missing": missing, "total": len(form.texts)})


def review_panel(user) -> dict:
    """The staff console's line on the yearly review of the version in force."""
    return {"framework_review": services.review_state()}
