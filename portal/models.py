"""Users, organizations, API tokens, notifications and the audit log."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable, Iterable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from portal.validators import plain_text, web_url

STAFF_GROUP = "Alliance staff"

# Roles granted by apps above the portal (``register_role_provider`` in their AppConfig.ready):
# a function of the user returning role names such as "auditor" and "evaluator".
_role_providers: dict[str, Callable[[User], Iterable[str]]] = {}


def register_role_provider(name: str, provider: Callable[[User], Iterable[str]]) -> None:
    _role_providers[name] = provider


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra):
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create_user(email, password, **extra)


def _pseudonym() -> str:
    return uuid.uuid4().hex[:12]


class User(AbstractBaseUser, PermissionsMixin):
    """A person. Logs in by email. ``is_staff`` only opens the Django admin;
    Alliance staff are the members of the ``Alliance staff`` group."""

    email = models.EmailField(_("email address"), unique=True)
    name = models.CharField(_("full name"), max_length=150, blank=True, validators=[plain_text])
    time_zone = models.CharField(_("time zone"), max_length=64, default="UTC")
    # Pages and emails in this language; blank: as the browser asks (Accept-Language), emails in English.
    language = models.CharField(_("language"), max_length=8, blank=True, default="",
                                choices=settings.ALL_LANGUAGES)
    # Kept after deletion so audit entries and attestations still point at someone.
    pseudonym = models.CharField(max_length=32, unique=True, default=_pseudonym, editable=False)
    is_staff = models.BooleanField(_("Django admin access"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    anonymized_at = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = _("user")

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return self.name or self.email

    @cached_property
    def is_alliance_staff(self) -> bool:
        return self.is_active and self.groups.filter(name=STAFF_GROUP).exists()

    @cached_property
    def accredited_roles(self) -> frozenset[str]:
        """Roles the apps above grant the user (an auditor's or evaluator's active accreditation),
        asked once for both checks below."""
        return frozenset(role for provider in _role_providers.values() for role in provider(self))

    @property
    def is_auditor(self) -> bool:
        return "auditor" in self.accredited_roles

    @property
    def is_evaluator(self) -> bool:
        return "evaluator" in self.accredited_roles

    @property
    def requires_mfa(self) -> bool:
        return self.is_alliance_staff or self.is_superuser or self.is_auditor

    @cached_property
    def has_mfa(self) -> bool:
        from allauth.mfa.models import Authenticator

        return Authenticator.objects.filter(user=self, type=Authenticator.Type.TOTP).exists()


class OrganizationQuerySet(models.QuerySet):
    def visible_to(self, user) -> OrganizationQuerySet:
        if not user.is_authenticated:
            return self.none()
        if user.is_alliance_staff:
            return self
        return self.filter(memberships__user=user)


class Organization(models.Model):
    name = models.CharField(_("name"), max_length=200, validators=[plain_text])
    slug = models.SlugField(_("short name"), max_length=80, unique=True)
    legal_name = models.CharField(_("legal name"), max_length=300, blank=True, validators=[plain_text])
    website = models.URLField(_("website"), blank=True, validators=[web_url])
    country = models.CharField(_("country"), max_length=2, blank=True, help_text=_("ISO 3166 two-letter code"))
    # Set by Alliance staff only; the transparency report counts these.
    is_alliance_member = models.BooleanField(_("Alliance member"), default=False)
    created_at = models.DateTimeField(default=timezone.now)

    objects = OrganizationQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        ADMIN = "admin", _("Admin")
        MEMBER = "member", _("Member")

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "user"], name="one_membership_per_org")]
        ordering = ["organization__name", "user__email"]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"

    @property
    def is_admin(self) -> bool:
        return self.role == self.Role.ADMIN


def hash_secret(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class InvitationQuerySet(models.QuerySet):
    def pending(self) -> InvitationQuerySet:
        return self.filter(accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now())


class Invitation(models.Model):
    """A single-use invitation. Only the sha256 of its token is stored."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(_("email address"))
    role = models.CharField(max_length=10, choices=Membership.Role.choices, default=Membership.Role.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Invitation of {self.email} to {self.organization}"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()


class ApiTokenQuerySet(models.QuerySet):
    def active(self, now=None) -> ApiTokenQuerySet:
        """Not revoked and not expired."""
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


def default_token_scopes() -> list[str]:
    return ["read"]


class ApiToken(models.Model):
    """A personal API token: shown once, stored as its sha256, revocable.

    Its ``scopes`` limit what it may do (``portal.api_auth.TokenScopes``): ``read`` for safe
    methods, ``write`` for the others, ``attest`` to file an attestation and ``staff`` for staff
    operations. An ``attest`` token lives at most ``ATTEST_LIFETIME`` (DESIGN §3: filing needs a
    fresh authentication, and a long-lived token would make that meaningless)."""

    PREFIX = "rrp_"
    READ, WRITE, ATTEST, STAFF = "read", "write", "attest", "staff"
    SCOPES = (READ, WRITE, ATTEST, STAFF)
    ATTEST_LIFETIME = timedelta(hours=1)

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100, validators=[plain_text])
    key_hash = models.CharField(max_length=64, unique=True)
    hint = models.CharField(max_length=12, help_text=_("First characters, to recognise the token in lists"))
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    scopes = models.JSONField(_("scopes"), default=default_token_scopes,
                              help_text=_("Some of read, write, attest, staff"))
    expires_at = models.DateTimeField(null=True, blank=True, help_text=_("Set for attest tokens: one hour"))

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def generate_key(cls) -> str:
        return cls.PREFIX + secrets.token_urlsafe(32)

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()


class NotificationQuerySet(models.QuerySet):
    def unread(self) -> NotificationQuerySet:
        return self.filter(read_at__isnull=True)


class Notification(models.Model):
    """What a user sees in the portal; its email travels through OutboxEmail."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=80, db_index=True)
    subject = models.CharField(max_length=300)
    body = models.TextField()
    url = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_unread")]

    def __str__(self) -> str:
        return self.subject


class OutboxEmailQuerySet(models.QuerySet):
    def deliverable(self, now=None) -> OutboxEmailQuerySet:
        """Unsent rows that nobody holds, or whose holder's claim went stale."""
        now = now or timezone.now()
        stale = now - settings.OUTBOX_CLAIM_TIMEOUT
        return self.filter(sent_at__isnull=True, failed_at__isnull=True).filter(
            models.Q(claimed_at__isnull=True) | models.Q(claimed_at__lt=stale)
        )


class OutboxEmail(models.Model):
    """An email written in the same transaction as its notification (DESIGN §8)."""

    notification = models.OneToOneField(
        Notification, on_delete=models.SET_NULL, null=True, blank=True, related_name="email"
    )
    to = models.EmailField()
    subject = models.CharField(max_length=300)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    objects = OutboxEmailQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["created_at"], name="outbox_unsent", condition=models.Q(sent_at__isnull=True)
            )
        ]

    def __str__(self) -> str:
        return f"{self.subject} to {self.to}"


class AuditEntryQuerySet(models.QuerySet):
    def for_organization(self, organization) -> AuditEntryQuerySet:
        return self.filter(organization=organization)


class AuditEntry(models.Model):
    """One append-only entry of the hash-chained audit log (DESIGN §3).

    ``hash`` = sha256 over the canonical JSON of the entry's fields and the
    previous entry's hash; see ``portal.audit``.
    """

    seq = models.PositiveBigIntegerField(unique=True)
    created_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=200, blank=True)
    actor_is_staff = models.BooleanField(default=False)
    action = models.CharField(max_length=120, db_index=True)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=300, blank=True)
    organization = models.ForeignKey(
        Organization, on_delete=models.SET_NULL, null=True, blank=True, related_name="audit_entries"
    )
    ip = models.GenericIPAddressField(null=True, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-seq"]
        verbose_name_plural = "audit entries"
        # Events of one kind up to a time (the transparency report's suspensions).
        indexes = [models.Index(fields=["action", "created_at"], name="audit_action_created_at")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action}"

    def save(self, *args, **kwargs):
        # Guard, not workflow: entries are written once, by portal.audit.log().
        if not self._state.adding:
            raise ValueError("Audit entries are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Audit entries are append-only")


class AuditChainHead(models.Model):
    """A single row locked by every append, so the chain never forks."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)


class AuditHeadPublication(models.Model):
    """The head of the chain as published each day; truncation below it is detectable."""

    published_at = models.DateTimeField(default=timezone.now, db_index=True)
    seq = models.PositiveBigIntegerField()
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["-published_at"]


class DeadlineQuerySet(models.QuerySet):
    def due(self, now=None) -> DeadlineQuerySet:
        """Deadlines with an action (reminder, transition, overdue notice) due now.

        Served by a partial index on ``next_action_at``, so the cost grows with
        what is due, not with all rows."""
        now = now or timezone.now()
        return self.filter(next_action_at__isnull=False, next_action_at__lte=now)

    def for_object(self, obj) -> DeadlineQuerySet:
        from django.contrib.contenttypes.models import ContentType

        return self.filter(content_type=ContentType.objects.get_for_model(obj), object_id=obj.pk)

    def open(self) -> DeadlineQuerySet:
        return self.filter(state=Deadline.State.OPEN)


class Deadline(models.Model):
    """One deadline of one object (DESIGN §2.4, §8). Kinds are registered in
    ``portal.deadlines``; the sweep acts when ``next_action_at`` passes."""

    class State(models.TextChoices):
        OPEN = "open", _("Open")
        PASSED = "passed", _("Passed")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")

    content_type = models.ForeignKey("contenttypes.ContentType", on_delete=models.CASCADE, related_name="+")
    object_id = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=60, db_index=True)
    due_at = models.DateTimeField(db_index=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN, db_index=True)
    next_action_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    # The schedule the object had when the deadline opened (its framework version's reminder
    # offsets in seconds, and the overdue repeat); null: the kind's own schedule.
    reminders = models.JSONField(null=True, blank=True)
    repeat_every = models.DurationField(null=True, blank=True)

    objects = DeadlineQuerySet.as_manager()

    class Meta:
        ordering = ["due_at"]
        indexes = [
            models.Index(
                fields=["next_action_at"], name="deadline_next_action",
                condition=models.Q(next_action_at__isnull=False),
            ),
            models.Index(fields=["content_type", "object_id", "kind"], name="deadline_object"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} due {self.due_at:%Y-%m-%d %H:%M}"

    @cached_property
    def target(self):
        return self.content_type.get_object_for_this_type(pk=self.object_id)


class ReminderClaim(models.Model):
    """Each (deadline, reminder, repeat) acts at most once: the unique row is the guarantee."""

    deadline = models.ForeignKey(Deadline, on_delete=models.CASCADE, related_name="claims")
    reminder = models.CharField(max_length=30)
    repeat = models.PositiveIntegerField(default=0)
    claimed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["deadline", "reminder", "repeat"], name="one_claim_per_reminder")
        ]


# --- Notification preferences, digests and calendar feeds (deadline engine) ---------------


class NotificationPreference(models.Model):
    """How one user gets the emails of one notification kind. No row means immediate."""

    class Delivery(models.TextChoices):
        IMMEDIATE = "immediate", _("Immediately")
        DIGEST = "digest", _("In a daily digest")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences")
    kind = models.CharField(max_length=80)
    delivery = models.CharField(max_length=10, choices=Delivery.choices, default=Delivery.IMMEDIATE)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "kind"], name="one_preference_per_kind")]

    def __str__(self) -> str:
        return f"{self.user}: {self.kind} {self.delivery}"


class DigestItemQuerySet(models.QuerySet):
    def pending(self) -> DigestItemQuerySet:
        return self.filter(outbox__isnull=True)


class DigestItem(models.Model):
    """A notification whose email waits for the user's daily digest (``portal.digests``)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    notification = models.OneToOneField(Notification, on_delete=models.CASCADE, related_name="digest_item")
    created_at = models.DateTimeField(default=timezone.now)
    # The digest email that carried it; empty while it waits.
    outbox = models.ForeignKey(OutboxEmail, null=True, blank=True, on_delete=models.SET_NULL, related_name="digest_items")

    objects = DigestItemQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["user", "created_at"], name="digest_pending",
                                condition=models.Q(outbox__isnull=True))]


class CalendarFeed(models.Model):
    """A user's private calendar (ICS) URL. Only the sha256 of its token is stored;
    generating a new one replaces the hash, which revokes the old URL."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feed")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Calendar feed of {self.user}"


# Defined next to its middleware; imported here so that Django (and migrations) know it.
from portal.idempotency import IdempotencyKey  # noqa: E402, F401
