"""Models and releases, documentation, evidence, benchmark results, the vulnerability
contact's confirmation, and applications with their transitions, frozen revisions,
attestations and change requests (DESIGN §2.2, §3, §4)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from certification.framework.models import Benchmark, FrameworkVersion
from portal.models import Organization
from portal.validators import plain_text


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


# --- models and releases --------------------------------------------------------------------


class AIModelQuerySet(OrganizationScopedQuerySet):
    organization_path = "organization"


class AIModel(models.Model):
    """A model an organization develops; its releases are certified one by one."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="ai_models")
    name = models.CharField(_("name"), max_length=200, validators=[plain_text])
    slug = models.SlugField(_("short name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    modalities = models.JSONField(_("modalities"), default=list, blank=True)
    hub_repo_id = models.CharField(
        _("model hub repository id"), max_length=200, blank=True, db_index=True, validators=[plain_text],
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
    version = models.CharField(_("version"), max_length=60, validators=[plain_text])
    parameter_count = models.BigIntegerField(_("parameter count"))
    capabilities = models.JSONField(_("capabilities"), default=list, blank=True)
    sensitive_domains = models.JSONField(_("sensitive domains"), default=list, blank=True)
    emergent_capabilities = models.BooleanField(_("emergent capabilities"), default=False)
    emergent_description = models.TextField(_("description of the emergent capabilities"), blank=True)
    hub_revision = models.CharField(_("model hub revision"), max_length=100, blank=True, validators=[plain_text])
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



class Upstream(models.Model):
    """A model this release was built from (issue 16 §1): a base model, a merged or distilled-from
    model, named by certificate number, hub repository id or artifact sha256. Stored as declared;
    ``certification.certificates.lineage`` resolves it to a certificate when read."""

    class Relation(models.TextChoices):
        FINE_TUNE = "fine_tune", _("Fine-tune of")
        MERGE = "merge", _("Merge of")
        DISTILLED = "distilled", _("Distilled from")
        QUANTIZATION = "quantization", _("Quantization of")
        ADAPTER = "adapter", _("Adapter for")

    class Kind(models.TextChoices):
        CERTIFICATE = "certificate", _("Certificate number")
        MODEL = "model", _("Model hub repository id")
        SHA256 = "sha256", _("Artifact sha256")

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="upstreams")
    relation = models.CharField(_("relation"), max_length=20, choices=Relation.choices)
    kind = models.CharField(_("named by"), max_length=20, choices=Kind.choices)
    # Normalized: a certificate number in upper case, a sha256 in lower case, a repository id as given.
    value = models.CharField(_("upstream"), max_length=200, db_index=True, validators=[plain_text])
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["release", "kind", "value"], name="upstream_once_per_release"),
        ]

    def __str__(self) -> str:
        return f"{self.get_relation_display()} {self.value}"


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
        return _("Documentation of %(release)s") % {"release": self.release}

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
    metric = models.CharField(_("metric"), max_length=200, validators=[plain_text])
    value = models.CharField(_("value"), max_length=60, help_text=_("As reported, e.g. 0.123 or Good"),
                             validators=[plain_text])
    harness = models.CharField(_("harness and version"), max_length=200, blank=True, validators=[plain_text])
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

    def staff_queue(self) -> ApplicationQuerySet:
        """The staff screening queue: one definition for its rows and every count of it."""
        S = Application.Status
        return self.filter(status__in=[S.SUBMITTED, S.SCREENING, S.IN_REVIEW, S.DECISION_PENDING])


class Application(models.Model):
    """A request to certify one release under one framework version (DESIGN §4).

    ``status`` changes only in ``certification.releases.applications`` (and the decision in
    ``certification.certificates.services``).
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
        help_text=_("The application this one renews"),
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
        return _("Application #%(n)s for %(release)s") % {"n": self.pk, "release": self.release}

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
        return _("Revision %(n)s of application #%(a)s") % {"n": self.number, "a": self.application_id}

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
    signer_name = models.CharField(max_length=200, validators=[plain_text])
    signer_title = models.CharField(max_length=200, validators=[plain_text])
    statements = models.JSONField(help_text=_("Each statement of the framework version, with affirmed=true"))
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
