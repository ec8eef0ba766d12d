"""Findings of the community review (DESIGN §6): filed by enrolled evaluators while the window
is open (a submitted finding is final), triaged by staff, answered by organization admins (each
accepted one), with the author's rejoinder; and what the public sees once the release is
certified (infohazard findings show only title, category, severity and the response)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from certification.framework import rules
from certification.framework import services as framework_services
from certification.framework.services import WorkflowError
from certification.releases import evidence
from certification.releases.models import Application
from certification.review.models import Finding, FindingAttachment, FindingResponse, Rejoinder, ReviewWindow
from certification.review.services import (
    F,
    advance,
    finding_url,
    has_access,
    owner_and_admins,
    response_due,
    schedule_response,
)
from portal import audit, deadlines, organizations
from portal import storage as private_files
from portal.models import User
from portal.notifications import notify

S = Application.Status

# Where finding attachments live in the private storage (``findings/<stored_name>``).
ATTACHMENT_FOLDER = "findings"

# --- findings --------------------------------------------------------------------------------------

FINDING_FIELDS = ("title", "category", "severity", "prevalence", "affected_capability", "reproduction_steps",
                  "expected_behaviour", "observed_behaviour", "infohazard", "atlas_techniques")


# Required to submit (a draft may be incomplete).
REQUIRED_TO_SUBMIT = ("title", "category", "severity", "reproduction_steps", "expected_behaviour",
                      "observed_behaviour")


def _require_access(user, window: ReviewWindow) -> None:
    if not window.is_open():
        raise WorkflowError(_("The review window is closed: findings can no longer be filed or changed."))
    if not has_access(user, window):
        raise WorkflowError(_("Only evaluators enrolled in this window, with an active accreditation, can do this."))


def clean_atlas(values) -> list[str]:
    import re

    if isinstance(values, str):
        values = [v for v in re.split(r"[\s,]+", values) if v]
    cleaned = []
    for value in values or []:
        value = str(value).strip().upper()
        if not re.fullmatch(r"AML\.T\d{4}(\.\d{3})?", value):
            raise WorkflowError(
                _("%(v)s is not a MITRE ATLAS technique id (like AML.T0051 or AML.T0051.000).") % {"v": value[:40]},
                field="atlas_techniques")
        if value not in cleaned:
            cleaned.append(value)
    return cleaned


def _apply(finding: Finding, data: dict) -> list[str]:
    changed = []
    for key in FINDING_FIELDS:
        if key not in data:
            continue
        value = data[key]
        if key == "atlas_techniques":
            value = clean_atlas(value)
        elif isinstance(value, str):
            value = value.strip()
        setattr(finding, key, value)
        changed.append(key)
    return changed


def _validate(finding: Finding) -> None:
    try:
        finding.full_clean(exclude=["window", "author", "duplicate_of", "triaged_by"], validate_unique=False,
                           validate_constraints=False)
    except ValidationError as exc:
        raise WorkflowError(_("Check the finding."), errors=exc.message_dict) from exc


def create_finding(window: ReviewWindow, user: User, data: dict, request=None) -> Finding:
    _require_access(user, window)
    if not (data.get("title") or "").strip():
        raise WorkflowError(_("Give the finding a title."), field="title")
    with transaction.atomic():
        finding = Finding(window=window, author=user)
        _apply(finding, data)
        _validate(finding)
        finding.save()
        audit.log("certification.review.finding_drafted", actor=user, obj=finding,
                  organization=window.application.release.organization, request=request)
    return finding


def update_draft(finding: Finding, user: User, data: dict, request=None) -> Finding:
    if finding.author_id != user.pk:
        raise WorkflowError(_("Only the author can change a draft finding."))
    if not finding.is_draft:
        raise WorkflowError(_("A submitted finding is final."))
    _require_access(user, finding.window)
    with transaction.atomic():
        locked = Finding.objects.select_for_update().get(pk=finding.pk)
        if locked.status != F.DRAFT:
            raise WorkflowError(_("A submitted finding is final."))
        changed = _apply(finding, data)
        finding.updated_at = timezone.now()
        _validate(finding)
        finding.save(update_fields=[*changed, "updated_at"])
        audit.log("certification.review.finding_edited", actor=user, obj=finding,
                  organization=finding.window.application.release.organization, request=request,
                  payload={"fields": changed})
    return finding


def submit_finding(finding: Finding, user: User, request=None) -> Finding:
    """Submit a draft: final from now on; staff triage it within 7 days."""
    if finding.author_id != user.pk:
        raise WorkflowError(_("Only the author can submit a finding."))
    _require_access(user, finding.window)
    missing = {k: [_("This field is required to submit.")] for k in REQUIRED_TO_SUBMIT
               if not str(getattr(finding, k) or "").strip()}
    if missing:
        raise WorkflowError(_("Complete the finding before submitting it."), errors=missing)
    window = finding.window
    app = window.application
    now = timezone.now()
    with transaction.atomic():
        if not Finding.objects.filter(pk=finding.pk, status=F.DRAFT).update(
                status=F.SUBMITTED, submitted_at=now, submitted_severity=finding.severity, updated_at=now):
            raise WorkflowError(_("This finding is already submitted."))
        finding.status, finding.submitted_at, finding.submitted_severity = F.SUBMITTED, now, finding.severity
        length = rules.deadline_length(app.framework_version.rules, "finding_triage")
        deadlines.open_deadline(finding, "finding_triage", now + length)
        audit.log("certification.review.finding_submitted", actor=user, obj=finding,
                  organization=app.release.organization, request=request,
                  payload={"severity": finding.severity, "category": finding.category})
        if app.owner:
            notify(app.owner, "finding-submitted", {"finding": finding, "application": app, "days": length.days},
                   url=finding_url(finding))
    return finding


def add_attachment(finding: Finding, user: User, uploaded, request=None) -> FindingAttachment:
    """Attach a file to a draft, under the evidence rules (family by content, size limit, sha256)."""
    if finding.author_id != user.pk:
        raise WorkflowError(_("Only the author can attach files."))
    if not finding.is_draft:
        raise WorkflowError(_("A submitted finding is final."))
    _require_access(user, finding.window)
    try:
        stored = evidence.save_upload(uploaded, ATTACHMENT_FOLDER)
    except evidence.EvidenceError as exc:  # the store refusing too: "could not be stored, try again", no 500
        raise WorkflowError(str(exc), field="file") from exc
    try:
        with transaction.atomic():
            attachment = FindingAttachment.objects.create(
                finding=finding, display_name=stored.display_name, stored_name=stored.stored_name,
                family=stored.family, size=stored.size, sha256=stored.sha256)
            audit.log("certification.review.attachment_added", actor=user, obj=finding,
                      organization=finding.window.application.release.organization, request=request,
                      payload={"sha256": attachment.sha256, "size": stored.size})
    except BaseException:
        private_files.delete(attachment_name(stored.stored_name))
        raise
    return attachment


def attachment_name(stored_name: str) -> str:
    """The attachment's name in the private storage."""
    return evidence.storage_name(ATTACHMENT_FOLDER, stored_name)


def attachment_dir() -> Path:
    """Where the local private folder keeps attachments (STORAGE_URL unset)."""
    return Path(settings.PRIVATE_STORAGE_ROOT) / ATTACHMENT_FOLDER


def attachment_response(attachment: FindingAttachment):
    """Streamed from the private storage; the caller checked ``can_see_attachment``."""
    return private_files.download(attachment_name(attachment.stored_name), attachment.display_name,
                                  evidence.CONTENT_TYPES.get(attachment.family, "application/octet-stream"))


def delete_draft(finding: Finding, user: User, request=None) -> None:
    if finding.author_id != user.pk or not finding.is_draft:
        raise WorkflowError(_("Only the author can delete a draft finding."))
    with transaction.atomic():
        names = [attachment_name(a.stored_name) for a in finding.attachments.all()]
        audit.log("certification.review.finding_deleted", actor=user, obj=finding,
                  organization=finding.window.application.release.organization, request=request)
        if not Finding.objects.filter(pk=finding.pk, status=F.DRAFT).delete()[0]:
            raise WorkflowError(_("A submitted finding is final."))
        private_files.delete_on_commit(names)


def triage(finding: Finding, actor: User, outcome: str, note: str = "", *, severity: str | None = None,
           severity_reason: str = "", duplicate_of: Finding | None = None, request=None) -> Finding:
    """Staff triage: accepted, duplicate of another, out of scope or invalid, with a note;
    the severity may change with a reason."""
    framework_services.require_staff(actor)
    note = (note or "").strip()
    severity_reason = (severity_reason or "").strip()
    errors: dict[str, list[str]] = {}
    if outcome not in F.values or outcome not in Finding.TRIAGE_OUTCOMES:
        errors["outcome"] = [_("Choose accepted, duplicate, out of scope or invalid.")]
    if outcome != F.ACCEPTED and not note:
        errors["note"] = [_("Explain the outcome in a note.")]
    if outcome == F.DUPLICATE:
        if duplicate_of is None:
            errors["duplicate_of"] = [_("Name the finding this one duplicates.")]
        elif duplicate_of.pk == finding.pk or duplicate_of.window_id != finding.window_id or duplicate_of.is_draft:
            errors["duplicate_of"] = [_("Choose another submitted finding of the same window.")]
    elif duplicate_of is not None:
        errors["duplicate_of"] = [_("Only a duplicate names another finding.")]
    if severity and severity not in Finding.Severity.values:
        errors["severity"] = [_("Unknown severity.")]
    changes_severity = bool(severity) and severity != finding.severity
    if changes_severity and not severity_reason:
        errors["severity_reason"] = [_("Give the reason for the change of severity.")]
    if errors:
        raise WorkflowError(_("The triage could not be recorded."), errors=errors)
    window = finding.window
    app = window.application
    now = timezone.now()
    with transaction.atomic():
        update = {"status": outcome, "triaged_at": now, "triaged_by": actor, "triage_note": note,
                  "duplicate_of": duplicate_of, "updated_at": now}
        if changes_severity:
            update.update(severity=severity, severity_reason=severity_reason)
        if not Finding.objects.filter(pk=finding.pk, status=F.SUBMITTED).update(**update):
            raise WorkflowError(_("Only a finding awaiting triage can be triaged."))
        old_severity = finding.severity
        for key, value in update.items():
            setattr(finding, key, value)
        deadlines.close_deadlines(finding, "finding_triage")
        if outcome == F.ACCEPTED:
            schedule_response(finding, window)
        audit.log("certification.review.finding_triaged", actor=actor, obj=finding,
                  organization=app.release.organization, request=request,
                  payload={"outcome": outcome, "severity": finding.severity,
                           "severity_from": old_severity if changes_severity else None,
                           "duplicate_of": duplicate_of.pk if duplicate_of else None})
        notify(finding.author, "finding-triaged", {"finding": finding, "application": app},
               url=finding_url(finding))
        if outcome == F.ACCEPTED:
            notify(organizations.org_admins(app.release.organization), "finding-accepted",
                   {"finding": finding, "application": app, "due_at": response_due(finding, window)},
                   url=finding_url(finding))
        advance(app)
    return finding


# --- responses and rejoinders ----------------------------------------------------------------------


def respond(finding: Finding, actor: User, kind: str, details: str, fixed_in: str = "", request=None) -> FindingResponse:
    """The organization's public response to an accepted finding (organization admins)."""
    app = finding.window.application
    org = app.release.organization
    if not organizations.is_org_admin(actor, org):
        raise WorkflowError(_("Only an admin of %(org)s can respond to findings.") % {"org": org.name})
    details = (details or "").strip()
    fixed_in = (fixed_in or "").strip()
    errors: dict[str, list[str]] = {}
    if kind not in FindingResponse.Kind.values:
        errors["kind"] = [_("Choose mitigated, accepted risk or disputed.")]
    elif not details:
        errors["details"] = [{
            FindingResponse.Kind.MITIGATED: _("Say what changed."),
            FindingResponse.Kind.ACCEPTED_RISK: _("Give the rationale for accepting the risk."),
            FindingResponse.Kind.DISPUTED: _("Give the reason you dispute the finding."),
        }[kind]]
    if kind == FindingResponse.Kind.MITIGATED and not fixed_in:
        errors["fixed_in"] = [_("Name the release in which it changed.")]
    if kind != FindingResponse.Kind.MITIGATED and fixed_in:
        fixed_in = ""
    if errors:
        raise WorkflowError(_("The response could not be recorded."), errors=errors)
    with transaction.atomic():
        locked = Finding.objects.select_for_update().get(pk=finding.pk)
        if locked.status != F.ACCEPTED:
            raise WorkflowError(_("Only accepted findings get a response."))
        if FindingResponse.objects.filter(finding=finding).exists():
            raise WorkflowError(_("This finding already has a response."))
        response = FindingResponse.objects.create(finding=finding, kind=kind, details=details, fixed_in=fixed_in,
                                                  responded_by=actor)
        deadlines.close_deadlines(finding, "finding_response")
        audit.log("certification.review.response_filed", actor=actor, obj=finding, organization=org,
                  request=request, payload={"kind": kind, "fixed_in": fixed_in})
        notify(finding.author, "response-filed", {"finding": finding, "response": response, "application": app},
               url=finding_url(finding))
        advance(app)
    return response


def add_rejoinder(finding: Finding, user: User, text: str, request=None) -> Rejoinder:
    """The author answers the organization's response, once."""
    if finding.author_id != user.pk:
        raise WorkflowError(_("Only the author of the finding can add a rejoinder."))
    text = (text or "").strip()
    if not text:
        raise WorkflowError(_("Write the rejoinder."), field="text")
    if not FindingResponse.objects.filter(finding=finding).exists():
        raise WorkflowError(_("A rejoinder answers the organization's response, which is not there yet."))
    app = finding.window.application
    with transaction.atomic():
        Finding.objects.select_for_update().get(pk=finding.pk)
        if Rejoinder.objects.filter(finding=finding).exists():
            raise WorkflowError(_("You have already added a rejoinder."))
        rejoinder = Rejoinder.objects.create(finding=finding, text=text, author=user)
        audit.log("certification.review.rejoinder_added", actor=user, obj=finding,
                  organization=app.release.organization, request=request)
        notify(owner_and_admins(app), "finding-rejoinder", {"finding": finding, "rejoinder": rejoinder,
                                                             "application": app}, url=finding_url(finding))
    return rejoinder


# --- visibility ------------------------------------------------------------------------------------


def findings_visible_to(user):
    """Findings a user may open: own ones; staff every submitted one; organization
    members the submitted findings of their applications. Public findings of certified
    releases are read through ``public_findings`` instead."""
    if not getattr(user, "is_authenticated", False):
        return Finding.objects.none()
    own = Q(author=user)
    if user.is_alliance_staff:
        return Finding.objects.filter(own | ~Q(status=F.DRAFT))
    org_rows = Q(window__application__release__ai_model__organization__memberships__user=user) & ~Q(status=F.DRAFT)
    return Finding.objects.filter(own | org_rows).distinct()


def can_see_attachment(user, attachment: FindingAttachment) -> bool:
    return findings_visible_to(user).filter(pk=attachment.finding_id).exists()


def with_details(qs):
    """Everything a findings list shows, in a fixed number of queries."""
    return qs.select_related("author", "triaged_by", "duplicate_of", "response", "response__responded_by",
                             "rejoinder").prefetch_related("attachments")


def certified_application(release) -> Application | None:
    return release.applications.filter(status=S.CERTIFIED).order_by("-decided_at", "-pk").first()


def public_findings(app: Application | None) -> list[dict]:
    """Accepted findings of a certified application with their responses and rejoinders,
    infohazard findings redacted to title, category, severity and response (DESIGN §6)."""
    if app is None or app.status != S.CERTIFIED:
        return []
    rows = (Finding.objects.filter(window__application=app, status=F.ACCEPTED)
            .select_related("response", "rejoinder").order_by("submitted_at", "pk"))
    return [public_view(f) for f in rows]


def public_view(finding: Finding) -> dict:
    response = getattr(finding, "response", None)
    data = {
        "id": finding.pk,
        "title": finding.title,
        "category": finding.category,
        "category_label": finding.get_category_display(),
        "severity": finding.severity,
        "severity_label": finding.get_severity_display(),
        "infohazard": finding.infohazard,
        "redacted": finding.infohazard,
        "response": {
            "kind": response.kind, "kind_label": response.get_kind_display(), "details": response.details,
            "fixed_in": response.fixed_in, "responded_at": response.responded_at,
        } if response else None,
    }
    if not finding.infohazard:
        rejoinder = getattr(finding, "rejoinder", None)
        data.update({
            "prevalence": finding.prevalence,
            "affected_capability": finding.affected_capability,
            "reproduction_steps": finding.reproduction_steps,
            "expected_behaviour": finding.expected_behaviour,
            "observed_behaviour": finding.observed_behaviour,
            "atlas_techniques": list(finding.atlas_techniques or []),
            "submitted_at": finding.submitted_at,
            "rejoinder": {"text": rejoinder.text, "created_at": rejoinder.created_at} if rejoinder else None,
        })
    return data
