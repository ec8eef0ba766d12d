"""Framework versions and the benchmark catalogue (DESIGN §2, §2.3), and the severity
scale that findings and audit issues share."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.models import Organization
from portal.validators import plain_text


class Severity(models.TextChoices):
    """Severity of a community finding or an audit issue (DESIGN §5, §6)."""

    CRITICAL = "critical", _("Critical")
    HIGH = "high", _("High")
    MEDIUM = "medium", _("Medium")
    LOW = "low", _("Low")
    INFO = "info", _("Info")


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

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("certification:framework-detail", args=[self.version])


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
    name = models.CharField(max_length=120, validators=[plain_text])
    category = models.CharField(max_length=30, choices=Category.choices)
    headline_metric = models.CharField(max_length=200, validators=[plain_text])
    better_when = models.CharField(max_length=60, validators=[plain_text])
    established = models.BooleanField(default=False)
    # Null for the seeded catalogue; the organization that proposed a custom one.
    proposed_by = models.ForeignKey(Organization, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["category", "name"]

    def __str__(self) -> str:
        return self.name
