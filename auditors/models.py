"""The auditor and evaluator network (DESIGN §5): accreditations and their
declared affiliations, supporting files, conflict records, offers, engagements,
audit reports and their conditions."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from certification.framework.models import Severity
from portal.validators import plain_text


class AccreditationQuerySet(models.QuerySet):
    def active(self, at=None) -> AccreditationQuerySet:
        """Approved and inside its validity; decided from stored times on every read."""
        at = at or timezone.now()
        return self.filter(status=Accreditation.Status.APPROVED).filter(
            Q(valid_until__isnull=True) | Q(valid_until__gt=at)
        )

    def active_roles(self, user) -> list[str]:
        """The roles of the user's active accreditations (the portal's role provider)."""
        return list(self.active().filter(user=user).values_list("role", flat=True))

    def auditors(self) -> AccreditationQuerySet:
        return self.filter(role=Accreditation.Role.AUDITOR)

    def evaluators(self) -> AccreditationQuerySet:
        return self.filter(role=Accreditation.Role.EVALUATOR)

    def awaiting_decision(self) -> AccreditationQuerySet:
        return self.filter(status=Accreditation.Status.PENDING)

    def in_directory(self) -> AccreditationQuerySet:
        return self.active().filter(listed_publicly=True)


class Accreditation(models.Model):
    """An auditor's accreditation or an evaluator's vetting (DESIGN §5)."""

    class Role(models.TextChoices):
        AUDITOR = "auditor", _("Third-party auditor")
        EVALUATOR = "evaluator", _("Community evaluator")

    class Kind(models.TextChoices):
        ACADEMIA = "academia", _("Academia")
        CIVIL_SOCIETY = "civil_society", _("Civil society")
        INDEPENDENT_LAB = "independent_lab", _("Independent lab")
        AUDIT_FIRM = "audit_firm", _("Audit firm")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        SUSPENDED = "suspended", _("Suspended")
        LAPSED = "lapsed", _("Lapsed")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="accreditations")
    role = models.CharField(max_length=10, choices=Role.choices, db_index=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.INDEPENDENT_LAB)
    firm = models.CharField(_("firm or institution"), max_length=200, blank=True, validators=[plain_text])
    # When the firm is itself an organization of the portal: "own firm is the applicant".
    firm_organization = models.ForeignKey(
        "portal.Organization", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    # What the person asked for, and what staff granted on approval.
    requested_tiers = models.JSONField(default=list, blank=True)
    requested_domains = models.JSONField(default=list, blank=True)
    tiers = models.JSONField(_("accredited tiers"), default=list, blank=True)
    domains = models.JSONField(_("accredited sensitive domains"), default=list, blank=True)
    capacity = models.PositiveSmallIntegerField(_("concurrent engagements"), default=2)
    email_domains = models.JSONField(default=list, blank=True)
    statement = models.TextField(_("experience and motivation"), blank=True)
    listed_publicly = models.BooleanField(_("listed in the public directory"), default=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True, db_index=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = AccreditationQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "role"], name="one_accreditation_per_role")]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()}, {self.get_status_display()})"

    def get_absolute_url(self) -> str:
        return reverse("auditors:staff-accreditation", args=[self.pk])

    def is_active(self, at=None) -> bool:
        at = at or timezone.now()
        return self.status == self.Status.APPROVED and (self.valid_until is None or self.valid_until > at)

    @property
    def is_auditor(self) -> bool:
        return self.role == self.Role.AUDITOR


class Affiliation(models.Model):
    """A declared tie to an organization (DESIGN §5)."""

    class Relation(models.TextChoices):
        EMPLOYMENT = "employment", _("Employment")
        CONSULTING = "consulting", _("Consulting")
        FUNDING = "funding", _("Funding")
        EQUITY = "equity", _("Equity")
        PRIOR_ENGAGEMENT = "prior_engagement", _("Prior engagement")

    FINANCIAL = (Relation.FUNDING, Relation.EQUITY)

    accreditation = models.ForeignKey(Accreditation, on_delete=models.CASCADE, related_name="affiliations")
    # The organization when it is in the portal; the name otherwise (matched by name).
    organization = models.ForeignKey(
        "portal.Organization", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    organization_name = models.CharField(_("organization"), max_length=200, validators=[plain_text])
    relation = models.CharField(max_length=20, choices=Relation.choices)
    started_on = models.DateField(_("from"), null=True, blank=True)
    ended_on = models.DateField(_("to"), null=True, blank=True, help_text=_("Leave empty while it lasts"))
    declared_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["organization_name", "started_on"]

    def __str__(self) -> str:
        return _("%(relation)s with %(organization)s") % {"relation": self.get_relation_display(),
                                                          "organization": self.organization_name}


class SupportingFile(models.Model):
    """A file supporting an application to join; stored privately like evidence."""

    accreditation = models.ForeignKey(Accreditation, on_delete=models.CASCADE, related_name="files")
    display_name = models.CharField(max_length=200)
    stored_name = models.CharField(max_length=100, unique=True)
    family = models.CharField(max_length=10)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["uploaded_at"]

    def __str__(self) -> str:
        return self.display_name


class ConflictRecord(models.Model):
    """A conflict the auditor declared for an application, or a staff override of
    a potential conflict (with its reason). Both are kept for the audit trail."""

    class Kind(models.TextChoices):
        DECLARED = "declared", _("Declared by the auditor")
        OVERRIDE = "override", _("Overridden by staff")

    application = models.ForeignKey(
        "certification.Application", on_delete=models.CASCADE, related_name="conflict_records"
    )
    accreditation = models.ForeignKey(Accreditation, on_delete=models.CASCADE, related_name="conflict_records")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # For overrides: the potential-conflict code it lifts.
    code = models.CharField(max_length=40, blank=True)
    reason = models.TextField()
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["recorded_at"]


class OfferQuerySet(models.QuerySet):
    def open(self) -> OfferQuerySet:
        return self.filter(status=Offer.Status.OPEN)

    def visible_to(self, user) -> OfferQuerySet:
        if not user.is_authenticated:
            return self.none()
        if user.is_alliance_staff:
            return self
        return self.filter(accreditation__user=user)


class Offer(models.Model):
    """An offer of an audit seat to one auditor (DESIGN §5)."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        ACCEPTED = "accepted", _("Accepted")
        DECLINED = "declined", _("Declined")
        EXPIRED = "expired", _("Expired")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    class DeclineReason(models.TextChoices):
        CONFLICT = "conflict_found", _("Conflict of interest found")
        NO_CAPACITY = "no_capacity", _("No capacity")
        OUT_OF_EXPERTISE = "out_of_expertise", _("Out of my expertise")
        OTHER = "other", _("Other")

    application = models.ForeignKey("certification.Application", on_delete=models.CASCADE, related_name="offers")
    accreditation = models.ForeignKey(Accreditation, on_delete=models.CASCADE, related_name="offers")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    sent_at = models.DateTimeField(default=timezone.now)
    sent_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+")
    expires_at = models.DateTimeField(db_index=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    decline_reason = models.CharField(max_length=20, choices=DeclineReason.choices, blank=True)
    decline_note = models.TextField(blank=True)
    confidentiality_accepted_at = models.DateTimeField(null=True, blank=True)

    objects = OfferQuerySet.as_manager()

    class Meta:
        ordering = ["-sent_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["application", "accreditation"], condition=Q(status="open"),
                                    name="one_open_offer_per_auditor")
        ]

    def __str__(self) -> str:
        return _("Offer #%(n)s to %(who)s for application #%(a)s") % {
            "n": self.pk, "who": self.accreditation.user, "a": self.application_id}

    def get_absolute_url(self) -> str:
        return reverse("auditors:offer-detail", args=[self.pk])

    def is_open(self, at=None) -> bool:
        return self.status == self.Status.OPEN and self.expires_at > (at or timezone.now())


class EngagementQuerySet(models.QuerySet):
    def current(self) -> EngagementQuerySet:
        """Engagements that hold a seat: active, or with the report filed."""
        return self.filter(status__in=Engagement.SEAT_STATES)

    def active(self) -> EngagementQuerySet:
        return self.filter(status=Engagement.Status.ACTIVE)

    def visible_to(self, user) -> EngagementQuerySet:
        """Staff: all; auditors: their own current ones; organization members: their applications'."""
        if not user.is_authenticated:
            return self.none()
        if user.is_alliance_staff:
            return self
        return self.filter(
            Q(accreditation__user=user, status__in=Engagement.SEAT_STATES)
            | Q(application__release__ai_model__organization__memberships__user=user)
        ).distinct()


class Engagement(models.Model):
    """An auditor holding one audit seat of an application."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        COMPLETED = "completed", _("Report filed")
        ENDED = "ended", _("Reassigned")

    SEAT_STATES = (Status.ACTIVE, Status.COMPLETED)

    application = models.ForeignKey("certification.Application", on_delete=models.CASCADE,
                                    related_name="engagements")
    accreditation = models.ForeignKey(Accreditation, on_delete=models.PROTECT, related_name="engagements")
    offer = models.OneToOneField(Offer, null=True, blank=True, on_delete=models.SET_NULL, related_name="engagement")
    seat = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    accepted_at = models.DateTimeField(default=timezone.now)
    report_due_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_reason = models.TextField(blank=True)

    objects = EngagementQuerySet.as_manager()

    class Meta:
        ordering = ["-accepted_at", "-id"]
        constraints = [
            # The database itself refuses a second holder of a seat.
            models.UniqueConstraint(fields=["application", "seat"], condition=Q(status__in=["active", "completed"]),
                                    name="one_engagement_per_seat"),
            models.UniqueConstraint(fields=["application", "accreditation"],
                                    condition=Q(status__in=["active", "completed"]),
                                    name="one_seat_per_auditor"),
        ]

    def __str__(self) -> str:
        return _("Engagement #%(n)s of %(who)s on application #%(a)s") % {
            "n": self.pk, "who": self.accreditation.user, "a": self.application_id}

    def get_absolute_url(self) -> str:
        return reverse("auditors:engagement-detail", args=[self.pk])

    @property
    def holds_seat(self) -> bool:
        return self.status in self.SEAT_STATES


class AuditReport(models.Model):
    """The audit report on the standard template; drafts can change, a filed report is locked."""

    class Recommendation(models.TextChoices):
        PASS = "pass", _("Pass")
        PASS_WITH_CONDITIONS = "pass_with_conditions", _("Pass with conditions")
        FAIL = "fail", _("Fail")

    Severity = Severity  # the scale community findings use too

    engagement = models.OneToOneField(Engagement, on_delete=models.CASCADE, related_name="report")
    scope = models.TextField(blank=True)
    methods = models.TextField(blank=True)
    # [{"benchmark": slug, "metric": str, "reported": str, "reproduced": str, "notes": str}]
    reproduced_results = models.JSONField(default=list, blank=True)
    # [{"title": str, "severity": str, "description": str}]
    issues = models.JSONField(default=list, blank=True)
    recommendation = models.CharField(max_length=25, choices=Recommendation.choices, blank=True)
    signed_file_name = models.CharField(max_length=200, blank=True)
    signed_file_stored = models.CharField(max_length=100, blank=True)
    signed_file_sha256 = models.CharField(max_length=64, blank=True)
    signed_file_size = models.PositiveBigIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    filed_at = models.DateTimeField(null=True, blank=True)
    # sha256 of the canonical JSON of the filed report (DESIGN §8).
    sha256 = models.CharField(max_length=64, blank=True)

    def __str__(self) -> str:
        return _("Report of engagement #%(n)s") % {"n": self.engagement_id}

    @property
    def is_filed(self) -> bool:
        return self.filed_at is not None


class ReportCondition(models.Model):
    """A condition of a "pass with conditions": resolved by the organization, accepted by the auditor."""

    report = models.ForeignKey(AuditReport, on_delete=models.CASCADE, related_name="conditions")
    number = models.PositiveSmallIntegerField()
    text = models.TextField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    resolution = models.TextField(blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    auditor_note = models.TextField(blank=True)

    class Meta:
        ordering = ["number"]
        constraints = [models.UniqueConstraint(fields=["report", "number"], name="condition_number_per_report")]

    def __str__(self) -> str:
        return _("Condition %(n)s: %(text)s") % {"n": self.number, "text": self.text[:60]}

    @property
    def state(self) -> str:
        if self.accepted_at:
            return "accepted"
        if self.resolved_at:
            return "resolved"
        return "open"
