"""Who may reach a model, release, application or evidence file from a page (DESIGN §3): one
helper per object, 404 for anyone outside the organization, the shared way a page shows a
refused transition, and the evidence-access checks that higher layers add (an engaged auditor,
an enrolled evaluator) in their ``AppConfig.ready()``."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from certification.framework import services
from certification.releases.models import AIModel, Application, EvidenceFile, Release
from portal.models import Membership

# --- access helpers (STYLE §5) --------------------------------------------------------------


def membership_of(request, org) -> Membership | None:
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
    membership = membership_of(request, org)
    if membership is None:
        raise PermissionDenied
    return membership


def require_admin(request, org) -> Membership:
    membership = require_member(request, org)
    if not membership.is_admin:
        raise PermissionDenied
    return membership


def show_workflow_error(request, exc: services.WorkflowError, form=None) -> None:
    if form is not None:
        for field, errors in exc.errors.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, error)
    else:
        details = [e for errs in exc.errors.values() for e in errs if e != str(exc)]
        messages.error(request, " ".join([str(exc), *details]))


def run_action(request: HttpRequest, action, obj, success: str) -> None:
    """Run one workflow step from a button: its success as a message, or its refusal as an error."""
    try:
        action(obj, request.user, request=request)
    except services.WorkflowError as exc:
        show_workflow_error(request, exc)
    else:
        messages.success(request, success)


def get_evidence_for_user(request: HttpRequest, pk: int) -> EvidenceFile:
    ev = EvidenceFile.objects.select_related("release__ai_model__organization").filter(pk=pk).first()
    if ev is None:
        raise Http404
    if request.user.is_alliance_staff or membership_of(request, ev.release.organization) is not None:
        return ev
    for check in EVIDENCE_ACCESS_CHECKS:  # engaged auditors, enrolled evaluators (later work items)
        if check(request.user, ev):
            return ev
    raise Http404


EVIDENCE_ACCESS_CHECKS: list = []
