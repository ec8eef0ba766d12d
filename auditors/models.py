"""Accreditation of third-party auditors and vetting of community evaluators."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AccreditationQuerySet(models.QuerySet):
    def active(self, at=None) -> AccreditationQuerySet:
        """Approved and inside its validity; decided from stored times on every read."""
        at = at or timezone.now()
        return self.filter(status=Accreditation.Status.APPROVED).filter(
            Q(valid_until__isnull=True) | Q(valid_until__gt=at)
        )


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
    firm = models.CharField(_("firm or institution"), max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = AccreditationQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "role"], name="one_accreditation_per_role")]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()}, {self.get_status_display()})"
