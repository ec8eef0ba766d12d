"""Framework versions (DESIGN §2): drafting a version from the last one, editing its rules and
publishing it with an effective date; the version in force; and the domain error that every
certification service raises (``WorkflowError``) with the staff check they share.

Every transition is one function: it checks the current state, runs in a transaction, writes
the audit entry.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from certification.framework import tiers
from certification.framework.models import FrameworkVersion
from portal import audit
from portal.canonical import canonical_sha256
from portal.models import User


class WorkflowError(Exception):
    """A refused transition; the message is for the user. ``field`` names the input at fault."""

    def __init__(self, message: str, field: str | None = None, errors: dict | None = None):
        super().__init__(message)
        self.field = field
        self.errors = errors or ({field: [message]} if field else {"non_field_errors": [message]})



def require_staff(actor: User) -> None:
    if not actor.is_alliance_staff:
        raise WorkflowError(_("Only Alliance staff can do this."))


# --- framework versions ------------------------------------------------------------------------


def version_in_force(at=None) -> FrameworkVersion:
    version = FrameworkVersion.objects.in_force(at)
    if version is None:
        raise WorkflowError(_("No framework version is in force. Alliance staff must publish one."))
    return version


def draft_framework_version(actor: User, version: str, request=None) -> FrameworkVersion:
    """A new draft copied from the latest published version."""
    base = FrameworkVersion.objects.published().order_by("-effective_from").first()
    if FrameworkVersion.objects.filter(version=version).exists():
        raise WorkflowError(_("Version %(v)s already exists.") % {"v": version}, field="version")
    rules = dict(base.rules) if base else {}
    rules["version"] = version
    with transaction.atomic():
        fv = FrameworkVersion.objects.create(version=version, rules=rules)
        audit.log("certification.framework.drafted", actor=actor, obj=fv, request=request,
                  payload={"copied_from": base.version if base else None})
    return fv


def update_framework_rules(fv: FrameworkVersion, actor: User, rules: dict, request=None) -> FrameworkVersion:
    if fv.is_published:
        raise WorkflowError(_("A published version cannot change. Draft a new version."))
    if rules.get("version") != fv.version:
        raise WorkflowError(_("The rules must name version %(v)s.") % {"v": fv.version}, field="rules")
    validate_rules(rules)
    with transaction.atomic():
        fv.rules = rules
        fv.save(update_fields=["rules"])
        audit.log("certification.framework.edited", actor=actor, obj=fv, request=request)
    return fv


def publish_framework_version(fv: FrameworkVersion, actor: User, effective_from, request=None) -> FrameworkVersion:
    validate_rules(fv.rules)
    with transaction.atomic():
        updated = FrameworkVersion.objects.filter(pk=fv.pk, status=FrameworkVersion.Status.DRAFT).update(
            status=FrameworkVersion.Status.PUBLISHED,
            effective_from=effective_from,
            digest=canonical_sha256(fv.rules),
            published_at=timezone.now(),
            published_by=actor,
        )
        if not updated:
            raise WorkflowError(_("This version is already published."))
        fv.refresh_from_db()
        audit.log("certification.framework.published", actor=actor, obj=fv, request=request,
                  payload={"digest": fv.digest, "effective_from": effective_from.isoformat()})
    return fv


def validate_rules(rules: dict) -> None:
    """A version's rules must at least classify and list requirements for every tier."""
    try:
        tiers.validate_requirements(rules)
        for tier in (1, 2, 3, 4):
            tiers.requirements_for_tier(rules, tier)
            tiers.attestation_statements_for_tier(rules, tier)
        tiers.classify({"parameter_count": 1, "capabilities": [], "sensitive_domains": [],
                        "emergent_capabilities": False, "emergent_description": ""}, rules)
    except (KeyError, TypeError, ValueError) as exc:
        raise WorkflowError(_("The rules are not valid: %(error)s") % {"error": exc}, field="rules") from exc
