"""Framework versions, models and releases, documentation, evidence,
applications, attestations and certificates (DESIGN §2, §4)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from portal.models import Organization


class Severity(models.TextChoices):
    """Severity of a community finding or an audit issue (DESIGN §5, §6)."""

    CRITICAL = "critical", _("Critical")
    HIGH = "high", _("High")
    MEDIUM = "medium", _("Medium")
    LOW = "low", _("Low")
    INFO = "info", _("Info")


class OrganizationScopedQuerySet(models.QuerySet):
    """Rows that belong to an organization: its members and staff see them, nobody else
    (DESIGN §3). Subclasses name the path from the row to its organization."""

    organization_path = "organization"

    def visible_to(self, user):
        if not user.is_authenticated:
            return self.none()
        if user.is_alliance_staff:
            return self
        return self.filter(**{f"{self.organization_path}__memberships__user": user})


# --- framework versions ----------------------------------------------------------------


class FrameworkVersionQuerySet(models.QuerySet):
    def published(self) -> FrameworkVersionQuerySet:
        return self.filter(status=FrameworkVersion.Status.PUBLISHED)

    def in_force(self, at=None) -> FrameworkVersion | None:
        """The published version with the latest effective date not after ``at``."""
        at = at or timezone.now()
        return self.published().filter(effective_from__lte=at).order_by("-effective_from").first()


class FrameworkVersion(models.Model):
    """Every rule, number and text of one framework version, as data (DESIGN §2)."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")

    version = models.CharField(max_length=20, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT, db_index=True)
    effective_from = models.DateTimeField(null=True, blank=True, db_index=True)
    rules = models.JSONField()
    # sha256 over the canonical JSON of ``rules``; set when published.
    digest = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = FrameworkVersionQuerySet.as_manager()

    class Meta:
        ordering = ["-effective_from", "-version"]

    def __str__(self) -> str:
        return self.version

    @property
    def is_published(self) -> bool:
        return self.status == self.Status.PUBLISHED


class Benchmark(models.Model):
    """The benchmark catalogue (DESIGN §2.3); custom entries count only once established."""

    class Category(models.TextChoices):
        TOXICITY = "toxicity", _("Toxicity")
        BIAS = "bias", _("Bias")
        FACTUAL_ACCURACY = "factual_accuracy", _("Factual accuracy")
        HARMFUL_COMPLIANCE = "harmful_compliance", _("Harmful compliance")
        OVER_REFUSAL = "over_refusal", _("Over-refusal")
        HAZARDS = "hazards", _("Hazards")
        OTHER = "other", _("Other")

    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=120)
    category = models.CharField(max_length=30, choices=Category.choices)
    headline_metric = models.CharField(max_length=200)
    better_when = models.CharField(max_length=60)
    established = models.BooleanField(default=False)
    # Null for the seeded catalogue; the organization that proposed a custom one.
    proposed_by = models.ForeignKey(Organization, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["category", "name"]

    def __str__(self) -> str:
        return self.name


# --- models and releases --------------------------------------------------------------------


class AIModelQuerySet(OrganizationScopedQuerySet):
    organization_path = "organization"


class AIModel(models.Model):
    """A model an organization develops; its releases are certified one by one."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="ai_models")
    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("short name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    modalities = models.JSONField(_("modalities"), default=list, blank=True)
    hub_repo_id = models.CharField(
        _("model hub repository id"), max_length=200, blank=True, db_index=True,
        help_text=_("For example acme/acme-7b, as on the model hub"),
    )
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    objects = AIModelQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organization", "slug"], name="model_slug_per_org")]

    def __str__(self) -> str:
        return self.name


class ReleaseQuerySet(OrganizationScopedQuerySet):
    organization_path = "ai_model__organization"


class Release(models.Model):
    """One release of a model, with the facts its tier is computed from (DESIGN §2.1)."""

    ai_model = models.ForeignKey(AIModel, on_delete=models.PROTECT, related_name="releases")
    version = models.CharField(_("version"), max_length=60)
    parameter_count = models.BigIntegerField(_("parameter count"))
    capabilities = models.JSONField(_("capabilities"), default=list, blank=True)
    sensitive_domains = models.JSONField(_("sensitive domains"), default=list, blank=True)
    emergent_capabilities = models.BooleanField(_("emergent capabilities"), default=False)
    emergent_description = models.TextField(_("description of the emergent capabilities"), blank=True)
    hub_revision = models.CharField(_("model hub revision"), max_length=100, blank=True)
    # An organization may declare a higher tier than computed; staff may raise it.
    declared_tier = models.PositiveSmallIntegerField(_("declared tier"), null=True, blank=True)
    raised_tier = models.PositiveSmallIntegerField(null=True, blank=True)
    raise_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    objects = ReleaseQuerySet.as_manager()

    class Meta:
        ordering = ["ai_model__name", "-created_at"]
        constraints = [models.UniqueConstraint(fields=["ai_model", "version"], name="release_version_per_model")]

    def __str__(self) -> str:
        return f"{self.ai_model.name} {self.version}"

    @property
    def organization(self) -> Organization:
        return self.ai_model.organization

    def classification_inputs(self) -> dict:
        return {
            "parameter_count": self.parameter_count,
            "capabilities": list(self.capabilities or []),
            "sensitive_domains": list(self.sensitive_domains or []),
            "emergent_capabilities": self.emergent_capabilities,
            "emergent_description": self.emergent_description,
        }


class Artifact(models.Model):
    """A file of the release (e.g. a safetensors shard), named by its sha256 in certificates."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="artifacts")
    path = models.CharField(max_length=500)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)

    class Meta:
        ordering = ["path"]
        constraints = [models.UniqueConstraint(fields=["release", "path"], name="artifact_path_per_release")]

    def __str__(self) -> str:
        return self.path


# --- documentation and evidence ---------------------------------------------------------------


class Documentation(models.Model):
    """The release's working model card. ``sections`` maps a section id to its answers;
    benchmark results and evidence files are rows of their own."""

    release = models.OneToOneField(Release, on_delete=models.CASCADE, related_name="documentation")
    sections = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    def __str__(self) -> str:
        return f"Documentation of {self.release}"

    def section(self, key: str) -> dict:
        return (self.sections or {}).get(key) or {}


class EvidenceFile(models.Model):
    """An uploaded evidence file: stored privately under a server-side name (DESIGN §3)."""

    class Family(models.TextChoices):
        PDF = "pdf", "PDF"
        JSON = "json", "JSON"
        CSV = "csv", "CSV"
        MARKDOWN = "markdown", "Markdown"
        TEXT = "text", _("Plain text")

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="evidence_files")
    section = models.CharField(max_length=60, blank=True)
    display_name = models.CharField(max_length=200)
    stored_name = models.CharField(max_length=100, unique=True)
    family = models.CharField(max_length=10, choices=Family.choices)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    is_public = models.BooleanField(default=False)
    uploaded_at = models.DateTimeField(default=timezone.now)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-uploaded_at"]

    def __str__(self) -> str:
        return self.display_name


class BenchmarkResult(models.Model):
    class RunBy(models.TextChoices):
        SELF = "self", _("The organization")
        THIRD_PARTY = "third_party", _("A third party")
        AUDITOR_VERIFIED = "auditor_verified", _("Verified by an auditor")

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="benchmark_results")
    benchmark = models.ForeignKey(Benchmark, on_delete=models.PROTECT, related_name="results")
    metric = models.CharField(_("metric"), max_length=200)
    value = models.CharField(_("value"), max_length=60, help_text=_("As reported, e.g. 0.123 or Good"))
    harness = models.CharField(_("harness and version"), max_length=200, blank=True)
    settings_text = models.TextField(_("settings"), blank=True)
    run_date = models.DateField(_("run date"))
    run_by = models.CharField(_("run by"), max_length=20, choices=RunBy.choices, default=RunBy.SELF)
    evidence = models.ForeignKey(EvidenceFile, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["benchmark__category", "benchmark__name"]

    def __str__(self) -> str:
        return f"{self.benchmark}: {self.value}"


class ContactConfirmation(models.Model):
    """The vulnerability contact address, confirmed by a link sent to it."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="contact_confirmations")
    email = models.EmailField()
    token_hash = models.CharField(max_length=64, unique=True)
    sent_at = models.DateTimeField(default=timezone.now)
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-sent_at"]


# --- applications ---------------------------------------------------------------------------------


class ApplicationQuerySet(OrganizationScopedQuerySet):
    organization_path = "release__ai_model__organization"

    def open(self) -> ApplicationQuerySet:
        return self.exclude(status__in=Application.CLOSED_STATES)

    def screening_queue(self) -> ApplicationQuerySet:
        return self.filter(status__in=[Application.Status.SUBMITTED, Application.Status.SCREENING])

    def awaiting_decision(self) -> ApplicationQuerySet:
        return self.filter(status=Application.Status.DECISION_PENDING)


class Application(models.Model):
    """A request to certify one release under one framework version (DESIGN §4).

    ``status`` changes only in ``certification.services``.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SUBMITTED = "submitted", _("Submitted")
        SCREENING = "screening", _("Screening")
        CHANGES_REQUESTED = "changes_requested", _("Changes requested")
        IN_REVIEW = "in_review", _("In review")
        DECISION_PENDING = "decision_pending", _("Decision pending")
        CERTIFIED = "certified", _("Certified")
        REJECTED = "rejected", _("Rejected")
        APPEALED = "appealed", _("Appealed")
        WITHDRAWN = "withdrawn", _("Withdrawn")
        LAPSED = "lapsed", _("Lapsed")

    CLOSED_STATES = (Status.CERTIFIED, Status.REJECTED, Status.WITHDRAWN, Status.LAPSED)

    release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="applications")
    framework_version = models.ForeignKey(FrameworkVersion, on_delete=models.PROTECT, related_name="applications")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT, db_index=True)
    tier = models.PositiveSmallIntegerField(null=True, blank=True, db_index=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_applications"
    )
    previous = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="renewals",
        help_text="The application this one renews",
    )
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    first_submitted_at = models.DateTimeField(null=True, blank=True, db_index=True)
    submitted_at = models.DateTimeField(null=True, blank=True, db_index=True)
    review_completed_at = models.DateTimeField(null=True, blank=True)
    review_completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = ApplicationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One open application per release at a time.
            models.UniqueConstraint(
                fields=["release"],
                condition=~Q(status__in=["certified", "rejected", "withdrawn", "lapsed"]),
                name="one_open_application_per_release",
            )
        ]

    def __str__(self) -> str:
        return f"Application #{self.pk} for {self.release}"

    @property
    def is_editable(self) -> bool:
        return self.status in (self.Status.DRAFT, self.Status.CHANGES_REQUESTED)

    @cached_property
    def latest_revision(self):
        return self.revisions.order_by("-number").first()


class ApplicationTransition(models.Model):
    """Status history, kept for the timelines and the transparency report."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField(max_length=20)
    to_status = models.CharField(max_length=20, db_index=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["at", "id"]
        # With the index on to_status: the report's time in changes requested reads only those transitions.
        indexes = [models.Index(fields=["from_status"], name="cert_transition_from_status")]


class DocumentationRevision(models.Model):
    """The documentation frozen at a submission: immutable, hashed (DESIGN §4)."""

    application = models.ForeignKey(Application, on_delete=models.PROTECT, related_name="revisions")
    number = models.PositiveIntegerField()
    tier = models.PositiveSmallIntegerField()
    content = models.JSONField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["number"]
        constraints = [models.UniqueConstraint(fields=["application", "number"], name="revision_number_per_app")]

    def __str__(self) -> str:
        return f"Revision {self.number} of application #{self.application_id}"

    def save(self, *args, **kwargs):
        # Guard, not workflow: a frozen revision is never rewritten.
        if not self._state.adding:
            raise ValueError("Documentation revisions are immutable")
        super().save(*args, **kwargs)


class Attestation(models.Model):
    """The organization admin's signed statement of compliance for one revision."""

    application = models.ForeignKey(Application, on_delete=models.PROTECT, related_name="attestations")
    revision = models.OneToOneField(DocumentationRevision, on_delete=models.PROTECT, related_name="attestation")
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    signer_name = models.CharField(max_length=200)
    signer_title = models.CharField(max_length=200)
    statements = models.JSONField(help_text="Each statement of the framework version, with affirmed=true")
    revision_sha256 = models.CharField(max_length=64)
    signed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-signed_at"]


class ChangeRequest(models.Model):
    """Staff asking for changes, with a comment per section."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="change_requests")
    revision = models.ForeignKey(DocumentationRevision, on_delete=models.PROTECT, related_name="+")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    comments = models.JSONField(default=dict)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at"]


class Decision(models.Model):
    class Outcome(models.TextChoices):
        APPROVE = "approve", _("Approve")
        REJECT = "reject", _("Reject")

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="decisions")
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reasons = models.TextField(blank=True)
    decided_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["decided_at"]
        constraints = [
            models.UniqueConstraint(fields=["application", "decided_by", "outcome"], name="one_vote_per_staff")
        ]


# --- certificates --------------------------------------------------------------------------------


class CertificateQuerySet(models.QuerySet):
    def valid(self, at=None) -> CertificateQuerySet:
        at = at or timezone.now()
        return self.filter(status=Certificate.Status.VALID, expires_at__gt=at)

    def with_effective_status(self, status: str, at=None) -> CertificateQuerySet:
        """Filter on the status as read (``expired`` is computed from ``expires_at``)."""
        at = at or timezone.now()
        if status == "valid":
            return self.valid(at)
        if status == "expired":
            return self.filter(status=Certificate.Status.VALID, expires_at__lte=at)
        return self.filter(status=status)


class Certificate(models.Model):
    """The certificate of a certified application. ``expired`` is computed from
    ``expires_at`` when read, never stored."""

    class Status(models.TextChoices):
        VALID = "valid", _("Valid")
        SUSPENDED = "suspended", _("Suspended")
        REVOKED = "revoked", _("Revoked")
        SUPERSEDED = "superseded", _("Superseded")

    number = models.CharField(max_length=40, unique=True)
    application = models.OneToOneField(Application, on_delete=models.PROTECT, related_name="certificate")
    release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="certificates")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="certificates")
    framework_version = models.ForeignKey(FrameworkVersion, on_delete=models.PROTECT, related_name="certificates")
    tier = models.PositiveSmallIntegerField(db_index=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.VALID, db_index=True)
    issued_at = models.DateTimeField(db_index=True)
    expires_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField(default=timezone.now, db_index=True)
    # The DSSE envelope exactly as signed; served byte for byte, never re-serialized (DESIGN §7).
    attestation = models.BinaryField(null=True, blank=True, editable=False)
    attestation_keyid = models.CharField(max_length=80, blank=True)
    # Frozen at issue, so ``verify?model=`` answers for the repo id the certificate names.
    hub_repo_id = models.CharField(max_length=200, blank=True, db_index=True)
    hub_revision = models.CharField(max_length=100, blank=True)
    status_reason = models.TextField(blank=True)
    superseded_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    objects = CertificateQuerySet.as_manager()

    class Meta:
        ordering = ["-issued_at", "-id"]

    def __str__(self) -> str:
        return self.number

    def effective_status(self, at=None) -> str:
        at = at or timezone.now()
        if self.status == self.Status.VALID and self.expires_at <= at:
            return "expired"
        return self.status


# --- certificates: subjects, revocation, appeals, concerns (DESIGN §4, §7) -----------------------


class CertifiedArtifact(models.Model):
    """A subject of a certificate's signed statement, as signed: the release's
    artifacts may change later (a renewal reopens the release), these never do."""

    certificate = models.ForeignKey(Certificate, on_delete=models.CASCADE, related_name="subjects")
    path = models.CharField(max_length=500)
    size = models.PositiveBigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, db_index=True)

    class Meta:
        ordering = ["path"]
        constraints = [models.UniqueConstraint(fields=["certificate", "path"], name="subject_path_per_certificate")]

    def __str__(self) -> str:
        return self.path


class RevocationProposal(models.Model):
    """Revocation needs two different staff: one proposes, another confirms."""

    certificate = models.ForeignKey(Certificate, on_delete=models.CASCADE, related_name="revocation_proposals")
    reason = models.TextField()
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    proposed_at = models.DateTimeField(default=timezone.now)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-proposed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["certificate"], condition=Q(confirmed_at__isnull=True, cancelled_at__isnull=True),
                name="one_open_revocation_proposal",
            )
        ]

    @property
    def is_open(self) -> bool:
        return self.confirmed_at is None and self.cancelled_at is None


class Appeal(models.Model):
    """The organization's one appeal against a rejection (DESIGN §4)."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        GRANTED = "granted", _("Granted")
        DENIED = "denied", _("Denied")

    # One appeal per application, ever.
    application = models.OneToOneField(Application, on_delete=models.PROTECT, related_name="appeal")
    grounds = models.TextField(_("grounds of the appeal"))
    filed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    filed_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-filed_at"]

    def __str__(self) -> str:
        return f"Appeal of application #{self.application_id}"


class AppealVote(models.Model):
    class Outcome(models.TextChoices):
        GRANT = "grant", _("Grant the appeal")
        DENY = "deny", _("Deny the appeal")

    appeal = models.ForeignKey(Appeal, on_delete=models.CASCADE, related_name="votes")
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    reasons = models.TextField()
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["decided_at"]
        constraints = [models.UniqueConstraint(fields=["appeal", "decided_by"], name="one_appeal_vote_per_staff")]


class ConcernReport(models.Model):
    """A concern about a certified release, from anyone (DESIGN §4, post-release monitoring)."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        ACTIONED = "actioned", _("Certificate suspended")
        DISMISSED = "dismissed", _("Dismissed")

    certificate = models.ForeignKey(Certificate, on_delete=models.PROTECT, related_name="concerns")
    summary = models.CharField(_("summary"), max_length=200)
    details = models.TextField(_("details"))
    reporter_email = models.EmailField(_("your email (optional)"), blank=True)
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    handled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.summary


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
        return f"Review window of application #{self.application_id}"

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
        return f"{self.user} in {self.window}"

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
    title = models.CharField(_("title"), max_length=200)
    category = models.CharField(_("category"), max_length=30, choices=Category.choices)
    severity = models.CharField(_("severity"), max_length=10, choices=Severity.choices)
    prevalence = models.CharField(_("prevalence"), max_length=10, choices=Prevalence.choices,
                                  default=Prevalence.UNKNOWN)
    affected_capability = models.CharField(_("affected capability"), max_length=200, blank=True)
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
    fixed_in = models.CharField(_("release with the change"), max_length=60, blank=True)
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


# --- transparency report (issue 8) -------------------------------------------------------------------
# Rollups are derived data: ``certification.report.refresh_rollups`` rewrites them
# (daily from Celery beat, or when staff ask). A published year is frozen in a
# ReportSnapshot, which nothing rewrites.


class ReportTierRollup(models.Model):
    """The figures of one calendar year (UTC) for one tier; tier 0 stands for all tiers."""

    ALL_TIERS = 0

    year = models.PositiveSmallIntegerField()
    tier = models.PositiveSmallIntegerField()
    member_organizations = models.PositiveIntegerField(default=0)
    # Member organizations that held a valid certificate (of this tier) at any time in the year.
    organizations_certified = models.PositiveIntegerField(default=0)
    certificates_issued = models.PositiveIntegerField(default=0)
    certificates_suspended = models.PositiveIntegerField(default=0)
    certificates_revoked = models.PositiveIntegerField(default=0)
    certificates_expired = models.PositiveIntegerField(default=0)
    releases_certified = models.PositiveIntegerField(default=0)
    # Applications decided in the year; calendar days from the first submission to the decision.
    decisions = models.PositiveIntegerField(default=0)
    days_median = models.FloatField(null=True, blank=True)
    days_p90 = models.FloatField(null=True, blank=True)
    days_median_excluding_changes = models.FloatField(null=True, blank=True)
    days_p90_excluding_changes = models.FloatField(null=True, blank=True)
    # Audit reports filed in the year, and those filed by their due time.
    audits_performed = models.PositiveIntegerField(default=0)
    audits_on_time = models.PositiveIntegerField(default=0)
    # Responses to accepted findings that fell due in the year, and those filed by then.
    responses_due = models.PositiveIntegerField(default=0)
    responses_on_time = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["year", "tier"]
        constraints = [models.UniqueConstraint(fields=["year", "tier"], name="one_tier_rollup_per_year")]

    def __str__(self) -> str:
        return f"{self.year} tier {self.tier or 'all'}"


class ReportFindingRollup(models.Model):
    """Community findings submitted in one year, by category and severity (as triaged)."""

    year = models.PositiveSmallIntegerField()
    category = models.CharField(max_length=30)
    severity = models.CharField(max_length=10)
    submitted = models.PositiveIntegerField(default=0)
    accepted = models.PositiveIntegerField(default=0)
    duplicate = models.PositiveIntegerField(default=0)
    out_of_scope = models.PositiveIntegerField(default=0)
    invalid = models.PositiveIntegerField(default=0)
    awaiting_triage = models.PositiveIntegerField(default=0)
    # Responses of the organizations to the accepted ones.
    mitigated = models.PositiveIntegerField(default=0)
    accepted_risk = models.PositiveIntegerField(default=0)
    disputed = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["year", "category", "severity"]
        constraints = [
            models.UniqueConstraint(fields=["year", "category", "severity"], name="one_finding_rollup_per_cell")
        ]


class ReportSnapshot(models.Model):
    """A published annual report: the report data frozen as canonical JSON with its
    sha256 (DESIGN §8). Immutable; the public page of a published year reads only this."""

    year = models.PositiveSmallIntegerField(unique=True)
    published_at = models.DateTimeField(default=timezone.now)
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                     related_name="+")
    data = models.JSONField()
    # sha256 over the canonical JSON (RFC 8785) of ``data``; the JSON download is those bytes.
    sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["-year"]

    def __str__(self) -> str:
        return f"Transparency report {self.year}"

    def save(self, *args, **kwargs):
        # Guard, not workflow: a published report is never rewritten.
        if not self._state.adding:
            raise ValueError("Published reports are immutable")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Published reports are immutable")
