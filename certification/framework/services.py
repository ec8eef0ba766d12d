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

from certification.framework import rules as framework_rules
from certification.framework import texts, tiers
from certification.framework.models import FrameworkVersion
from portal import audit, deadlines
from portal.canonical import canonical_sha256
from portal.models import Deadline, User


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
    # The draft carries its texts in every language in its own data (and so in its digest): the
    # base's translations block, and the catalogue's translations of what the base leaves out
    # (2025.1's French comes from the catalogue).
    carried = texts.carried_translations(base.rules) if base else {}
    if carried:
        rules[texts.BLOCK] = carried
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
    texts.forget()
    return fv


def update_framework_translations(fv: FrameworkVersion, actor: User, translations: dict[str, dict[str, str]],
                                  request=None) -> FrameworkVersion:
    """Set a draft's texts in other languages: ``{language: {text path: text}}``. Each language
    named replaces that language's texts (an empty text is dropped: the text is then missing and
    shows from the catalogue or in English); languages not named keep theirs."""
    if fv.is_published:
        raise WorkflowError(_("A published version cannot change. Draft a new version."))
    rules = dict(fv.rules)
    block = {lang: dict(values) for lang, values in (rules.get(texts.BLOCK) or {}).items()} \
        if isinstance(rules.get(texts.BLOCK), dict) else {}
    for language, values in translations.items():
        if not isinstance(values, dict):
            raise WorkflowError(_("The texts of each language must be an object of text paths and texts."),
                                field="translations")
        block[language] = {path: text.strip() if isinstance(text, str) else text for path, text in values.items()
                           if not (isinstance(text, str) and not text.strip())}
    block = {language: values for language, values in block.items() if values}
    if block:
        rules[texts.BLOCK] = block
    else:
        rules.pop(texts.BLOCK, None)
    try:
        texts.validate_translations(rules)
    except ValueError as exc:
        raise WorkflowError(_("The translations are not valid: %(error)s") % {"error": exc},
                            field="translations") from exc
    with transaction.atomic():
        # Only a draft changes, settled in the database: a publish in between wins.
        if not FrameworkVersion.objects.filter(pk=fv.pk, status=FrameworkVersion.Status.DRAFT).update(rules=rules):
            raise WorkflowError(_("A published version cannot change. Draft a new version."))
        fv.rules = rules
        audit.log("certification.framework.translated", actor=actor, obj=fv, request=request,
                  payload={"languages": sorted(translations),
                           "texts": {lang: len(values) for lang, values in block.items()}})
    texts.forget()
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
        open_review_deadline(fv)
        for hook in VERSION_PUBLISHED_HOOKS:
            hook(fv)
    texts.forget()
    return fv


# Called inside the publishing transaction with the new version: the certificates layer opens
# the effective-date notice to certificate holders here (``certificates/framework_notice.py``).
VERSION_PUBLISHED_HOOKS: list = []


def open_review_deadline(fv: FrameworkVersion) -> None:
    """The yearly review (issue 16 §3): a ``framework_review`` deadline at the version's review-by
    date. A newer version is the review of the older ones, so their review deadlines close."""
    older = FrameworkVersion.objects.published().filter(effective_from__lt=fv.effective_from)
    for previous in older:
        deadlines.close_deadlines(previous, "framework_review")
    newer = FrameworkVersion.objects.published().filter(effective_from__gt=fv.effective_from).exists()
    if not newer:
        deadlines.open_deadline(fv, "framework_review", framework_rules.review_by(fv))


def ensure_review_deadline() -> None:
    """Give the latest published version its review deadline if it never had one (a version
    published before reviews were tracked, such as the seeded 2025.1). Idempotent."""
    latest = FrameworkVersion.objects.published().order_by("-effective_from").first()
    if latest is not None and not Deadline.objects.for_object(latest).filter(
            kind="framework_review").exists():
        open_review_deadline(latest)


def previous_version(fv: FrameworkVersion) -> FrameworkVersion | None:
    """The version ``fv`` follows: for a published one, the published version effective before it;
    for a draft, the version it would replace (the latest published)."""
    published = FrameworkVersion.objects.published().exclude(pk=fv.pk).order_by("-effective_from")
    if fv.is_published:
        published = published.filter(effective_from__lt=fv.effective_from)
    return published.first()


def review_state(at=None) -> dict:
    """The yearly review as the staff console shows it: the version in force, its review-by date,
    whether it has passed, and a newer version already published (scheduled), if any."""
    at = at or timezone.now()
    current = FrameworkVersion.objects.in_force(at)
    if current is None:
        return {}
    review_by = framework_rules.review_by(current)
    scheduled = (FrameworkVersion.objects.published().filter(effective_from__gt=current.effective_from)
                 .order_by("effective_from").first())
    return {"version": current, "review_by": review_by, "scheduled": scheduled,
            "overdue": scheduled is None and at >= review_by,
            "days_left": (review_by - at).days}


def validate_rules(rules: dict) -> None:
    """A version's rules must at least classify and list requirements for every tier."""
    try:
        tiers.validate_requirements(rules)
        for tier in (1, 2, 3, 4):
            tiers.requirements_for_tier(rules, tier)
            tiers.attestation_statements_for_tier(rules, tier)
        tiers.classify({"parameter_count": 1, "capabilities": [], "sensitive_domains": [],
                        "emergent_capabilities": False, "emergent_description": ""}, rules)
        texts.validate_translations(rules)
    except (KeyError, TypeError, ValueError) as exc:
        raise WorkflowError(_("The rules are not valid: %(error)s") % {"error": exc}, field="rules") from exc
