"""Community review (DESIGN §6): windows, enrolments, findings with their attachments,
the organization's responses and the evaluators' rejoinders."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from certification.framework.models import Severity
from certification.releases.models import Application, EvidenceFile
from portal.validators import plain_text

# --- community review (DESIGN §6) ------------------------------------------------------------------


class ReviewWindowQuerySet(models.QuerySet):
    def open_at(self, at=None) -> ReviewWindowQuerySet:
        """Open windows, decided from the stored times (never from the sweep)."""
        at = at or timezone.now()
        return self.filter(opened_at__lte=at, closes_at__gt=at).exclude(
            application__status__in=Application.CLOSED_STATES)


class ReviewWindow(models.Model):
    """The community review window of a Tier 3/4 application (DESIGN §2.1, §6).

    Open while ``opened_at <= now < closes_at`` and the application is not closed
    (withdrawn, decided, lapsed); ``closed_at`` records that the close was processed
    (notifications, gates), not whether it is open."""

    application = models.OneToOneField(Application, on_delete=models.CASCADE, related_name="review_window")
    tier = models.PositiveSmallIntegerField()
    first_opened_at = models.DateTimeField()
    opened_at = models.DateTimeField()
    closes_at = models.DateTimeField(db_index=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    extended_at = models.DateTimeField(null=True, blank=True)
    reopened_at = models.DateTimeField(null=True, blank=True)

    objects = ReviewWindowQuerySet.as_manager()

    class Meta:
        ordering = ["closes_at", "id"]

    def __str__(self) -> str:
        return _("Review window of application #%(a)s") % {"a": self.application_id}

    def is_open(self, at=None) -> bool:
        """Inside its times, and the application still open (a withdrawal ends the review)."""
        at = at or timezone.now()
        return self.opened_at <= at < self.closes_at and self.application.status not in Application.CLOSED_STATES


class Enrolment(models.Model):
    """A vetted evaluator enrolled in a window. Access to the materials is decided on
    each request: enrolled, not withdrawn, accreditation active, window open."""

    window = models.ForeignKey(ReviewWindow, on_delete=models.CASCADE, related_name="enrolments")
    accreditation = models.ForeignKey("auditors.Accreditation", on_delete=models.PROTECT, related_name="enrolments")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="enrolments")
    enrolled_at = models.DateTimeField(default=timezone.now)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    confidentiality_accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["enrolled_at", "id"]
        constraints = [models.UniqueConstraint(fields=["window", "user"], name="one_enrolment_per_window")]

    def __str__(self) -> str:
        return _("%(user)s in %(window)s") % {"user": self.user, "window": self.window}

    @property
    def is_current(self) -> bool:
        return self.withdrawn_at is None


class FindingQuerySet(models.QuerySet):
    def submitted(self) -> FindingQuerySet:
        return self.exclude(status=Finding.Status.DRAFT)

    def awaiting_triage(self) -> FindingQuerySet:
        return self.filter(status=Finding.Status.SUBMITTED)

    def unanswered(self) -> FindingQuerySet:
        return self.filter(status=Finding.Status.ACCEPTED, response__isnull=True)


class Finding(models.Model):
    """A community finding on the template of DESIGN §6. Drafts change; a submitted finding is final."""

    class Category(models.TextChoices):
        TOXICITY = "toxicity", _("Toxicity")
        BIAS = "bias", _("Bias")
        FACTUALITY = "factuality", _("Factuality")
        PRIVACY = "privacy_leakage", _("Privacy / leakage")
        SECURITY = "security", _("Security / jailbreak / prompt injection")
        DANGEROUS = "dangerous_capability", _("Dangerous capability")
        DOCUMENTATION = "documentation_discrepancy", _("Documentation discrepancy")
        LICENSE = "license_use_policy", _("License / use policy")
        OTHER = "other", _("Other")

    # Shared with audit reports: one scale for findings and audit issues.
    Severity = Severity

    class Prevalence(models.TextChoices):
        ALWAYS = "always", _("Always")
        OFTEN = "often", _("Often")
        SOMETIMES = "sometimes", _("Sometimes")
        RARELY = "rarely", _("Rarely")
        UNKNOWN = "unknown", _("Unknown")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SUBMITTED = "submitted", _("Awaiting triage")
        ACCEPTED = "accepted", _("Accepted")
        DUPLICATE = "duplicate", _("Duplicate")
        OUT_OF_SCOPE = "out_of_scope", _("Out of scope")
        INVALID = "invalid", _("Invalid")

    TRIAGE_OUTCOMES = (Status.ACCEPTED, Status.DUPLICATE, Status.OUT_OF_SCOPE, Status.INVALID)

    window = models.ForeignKey(ReviewWindow, on_delete=models.CASCADE, related_name="findings")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="findings")
    status = models.CharField(max_length=15, choices=Status.choices, default=Status.DRAFT, db_index=True)
    title = models.CharField(_("title"), max_length=200, validators=[plain_text])
    category = models.CharField(_("category"), max_length=30, choices=Category.choices)
    severity = models.CharField(_("severity"), max_length=10, choices=Severity.choices)
    prevalence = models.CharField(_("prevalence"), max_length=10, choices=Prevalence.choices,
                                  default=Prevalence.UNKNOWN)
    affected_capability = models.CharField(_("affected capability"), max_length=200, blank=True,
                                           validators=[plain_text])
    reproduction_steps = models.TextField(_("reproduction steps"), blank=True)
    expected_behaviour = models.TextField(_("expected behaviour"), blank=True)
    observed_behaviour = models.TextField(_("observed behaviour"), blank=True)
    infohazard = models.BooleanField(
        _("infohazard"), default=False,
        help_text=_("Details could help cause harm: once public, only the title, category, severity and response show."),
    )
    atlas_techniques = models.JSONField(_("MITRE ATLAS technique ids"), default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # Triage by staff; the severity the evaluator gave is kept when staff change it.
    submitted_severity = models.CharField(max_length=10, choices=Severity.choices, blank=True)
    severity_reason = models.TextField(blank=True)
    triaged_at = models.DateTimeField(null=True, blank=True)
    triaged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    triage_note = models.TextField(blank=True)
    duplicate_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    objects = FindingQuerySet.as_manager()

    class Meta:
        ordering = ["submitted_at", "id"]

    def __str__(self) -> str:
        return self.title

    @property
    def is_draft(self) -> bool:
        return self.status == self.Status.DRAFT


class FindingAttachment(models.Model):
    """A file attached to a finding, checked and stored like evidence (DESIGN §3)."""

    finding = models.ForeignKey(Finding, on_delete=models.CASCADE, related_name="attachments")
    display_name = models.CharField(max_length=200)
    stored_name = models.CharField(max_length=100, unique=True)
    family = models.CharField(max_length=10, choices=EvidenceFile.Family.choices)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["uploaded_at", "id"]

    def __str__(self) -> str:
        return self.display_name


class FindingResponse(models.Model):
    """The organization's public response to an accepted finding."""

    class Kind(models.TextChoices):
        MITIGATED = "mitigated", _("Mitigated")
        ACCEPTED_RISK = "accepted_risk", _("Accepted risk")
        DISPUTED = "disputed", _("Disputed")

    finding = models.OneToOneField(Finding, on_delete=models.CASCADE, related_name="response")
    kind = models.CharField(max_length=15, choices=Kind.choices)
    # What changed (mitigated), the rationale (accepted risk) or the reason (disputed).
    details = models.TextField()
    fixed_in = models.CharField(_("release with the change"), max_length=60, blank=True, validators=[plain_text])
    responded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    responded_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.finding}"


class Rejoinder(models.Model):
    """The evaluator's answer to the organization's response."""

    finding = models.OneToOneField(Finding, on_delete=models.CASCADE, related_name="rejoinder")
    text = models.TextField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
