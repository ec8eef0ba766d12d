"""Decisions, certificates and their certified artifacts, revocation proposals, appeals
and concern reports, which become post-release incidents (DESIGN §4, §7; issue 16 §2)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from certification.framework.models import FrameworkVersion
from certification.releases.models import Application, Release
from portal.models import Organization
from portal.validators import plain_text


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


class ModelSignature(models.Model):
    """A certificate's OpenSSF model-signing bundle (``modelsigning.py``), exactly as signed:
    served byte for byte, never re-serialized. A renewal's certificate gets its own; revoking a
    certificate keeps it (the revocation list says it no longer counts)."""

    certificate = models.OneToOneField(Certificate, on_delete=models.CASCADE, related_name="model_signature")
    bundle = models.BinaryField(editable=False)
    keyid = models.CharField(max_length=80)
    # The statement's subject digest: finds the certificates of an uploaded bundle in one query.
    subject_sha256 = models.CharField(max_length=64, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"model signature of {self.certificate_id}"


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
        return _("Appeal of application #%(a)s") % {"a": self.application_id}


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


class ConcernReportQuerySet(models.QuerySet):
    def open(self) -> ConcernReportQuerySet:
        """Incidents still waiting for someone: received, acknowledged or under investigation."""
        return self.filter(status__in=ConcernReport.OPEN_STATES)

    def visible_to(self, user) -> ConcernReportQuerySet:
        """Staff see every incident; members of an organization those about its certificates;
        everyone else none (their details are private, DESIGN §3)."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        if user.is_alliance_staff:
            return self.all()
        return self.filter(certificate__organization__memberships__user=user).distinct()

    def public_history(self, at, public_after) -> ConcernReportQuerySet:
        """The incidents a certificate page shows: resolved, or acknowledged at least ``public_after``
        (a timedelta, from the framework data) before ``at``, whichever comes first. A staff
        dismissal is never shown: staff judged the report not to be an incident."""
        return self.exclude(status=ConcernReport.Status.DISMISSED).filter(
            Q(status=ConcernReport.Status.RESOLVED) | Q(acknowledged_at__lte=at - public_after))


class ConcernReport(models.Model):
    """A post-release incident about a certified release (DESIGN §4, §7.2; issue 16 §2): reported by
    anyone as a concern, then ``received`` → ``acknowledged`` by the organization (a deadline) →
    ``investigating`` → ``resolved`` with a public note; or ``escalated`` by staff to a suspension of
    the certificate, or ``dismissed`` by staff. The details stay with the organization and staff;
    the public sees the summary (its title), dates, status and resolution note."""

    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        ACKNOWLEDGED = "acknowledged", _("Acknowledged")
        INVESTIGATING = "investigating", _("Under investigation")
        RESOLVED = "resolved", _("Resolved")
        ESCALATED = "escalated", _("Escalated: certificate suspended")
        DISMISSED = "dismissed", _("Dismissed by staff")

    class Severity(models.TextChoices):
        LOW = "low", _("Low")
        MEDIUM = "medium", _("Medium")
        HIGH = "high", _("High")
        CRITICAL = "critical", _("Critical")

    class Resolution(models.TextChoices):
        FIXED = "fixed", _("Fixed in a release")
        MITIGATED = "mitigated", _("Mitigated")
        NOT_REPRODUCIBLE = "not_reproducible", _("Not reproducible")
        OUT_OF_SCOPE = "out_of_scope", _("Out of scope")

    OPEN_STATES = (Status.RECEIVED, Status.ACKNOWLEDGED, Status.INVESTIGATING)

    certificate = models.ForeignKey(Certificate, on_delete=models.PROTECT, related_name="concerns")
    summary = models.CharField(_("summary"), max_length=200, validators=[plain_text])
    details = models.TextField(_("details"))
    reporter_email = models.EmailField(_("your email (optional)"), blank=True)
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED, db_index=True)
    # Chosen by the reporter or set by staff; blank: not rated yet (reports from before incidents had one).
    severity = models.CharField(_("severity"), max_length=10, choices=Severity.choices, blank=True, db_index=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True, db_index=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    investigating_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True, db_index=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution = models.CharField(_("resolution"), max_length=20, choices=Resolution.choices, blank=True)
    fixed_in = models.CharField(_("fixed in release"), max_length=100, blank=True, validators=[plain_text])
    # Public once the incident shows in the certificate's history.
    resolution_note = models.TextField(_("public resolution note"), blank=True)
    # The staff member who dismissed it or escalated it to a suspension, and when.
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    handled_at = models.DateTimeField(null=True, blank=True)

    objects = ConcernReportQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.summary

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATES

    @property
    def closed_at(self):
        """When it stopped being open: resolved, or dismissed or escalated by staff."""
        return self.resolved_at if self.status == self.Status.RESOLVED else self.handled_at

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("certification:incident-detail", args=[self.pk])
