"""Authenticated API of the user's own account (``/api/v1/account/``): the profile, notification
and digest preferences, the calendar feed's secret, personal API tokens and account deletion. Each operation
calls the service of its page with the page's rules: token creation asks staff and auditors for a
session that passed two-factor authentication, deletion asks for the password again (the page's
re-authentication) and for ``DELETE`` typed out."""

from __future__ import annotations

from allauth.account.adapter import get_adapter
from allauth.core import ratelimit
from django.contrib.auth import logout
from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, Throttled, ValidationError
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from portal import accounts, calendar, digests
from portal.forms import ApiTokenForm, DeleteAccountForm, ProfileForm
from portal.models import ApiToken, CalendarFeed, NotificationPreference


def _form_errors(form) -> dict[str, list[str]]:
    """A Django form's errors in DRF's shape (the page's form decides what is valid)."""
    return {
        ("non_field_errors" if field == "__all__" else field): [e["message"] for e in errors]
        for field, errors in form.errors.get_json_data().items()
    }


def _by_session(request) -> bool:
    return isinstance(request.successful_authenticator, SessionAuthentication)


# --- serializers ----------------------------------------------------------------------


class ProfileSerializer(serializers.Serializer):
    email = serializers.EmailField(read_only=True, help_text=gettext_lazy("Changed on the email page (it is verified)"))
    name = serializers.CharField(required=False, allow_blank=True, max_length=150)
    time_zone = serializers.CharField(required=False, max_length=64,
                                      help_text=gettext_lazy("An IANA zone, e.g. Europe/Paris: dates are shown in it"))
    language = serializers.CharField(required=False, allow_blank=True, max_length=8,
                                       help_text=gettext_lazy("Pages and emails in this language; empty: as the "
                                                              "browser asks (emails in English)"))


class PreferenceSerializer(serializers.Serializer):
    kind = serializers.CharField()
    label = serializers.CharField()
    delivery = serializers.ChoiceField(choices=NotificationPreference.Delivery.choices)


class NotificationSettingsSerializer(serializers.Serializer):
    preferences = PreferenceSerializer(many=True, help_text=gettext_lazy("Every kind of email you may move to the "
                                                                         "daily digest"))


class NotificationSettingsUpdateSerializer(serializers.Serializer):
    preferences = serializers.DictField(
        child=serializers.ChoiceField(choices=NotificationPreference.Delivery.choices), allow_empty=False,
        help_text=gettext_lazy("Delivery per kind, e.g. {\"deadline-reminder\": \"digest\"}; kinds not named keep "
                               "theirs"),
    )

    def validate_preferences(self, value: dict) -> dict:
        unknown = sorted(set(value) - {kind for kind, _label in digests.choosable_kinds()})
        if unknown:
            raise serializers.ValidationError(
                _("Unknown or always-immediate kind: %(kinds)s. GET this endpoint for the kinds.")
                % {"kinds": ", ".join(unknown)})
        return value


class NotificationSettingsResultSerializer(NotificationSettingsSerializer):
    changed = serializers.IntegerField(help_text=gettext_lazy("How many kinds changed"))


class CalendarFeedSerializer(serializers.Serializer):
    active = serializers.BooleanField(help_text=gettext_lazy("Whether a feed address exists (it is shown only when "
                                                             "created)"))
    created_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)


class CalendarFeedCreatedSerializer(serializers.Serializer):
    url = serializers.URLField(help_text=gettext_lazy("The feed's secret address, shown this once; the previous one "
                                                      "stops working"))
    created_at = serializers.DateTimeField()


class ApiTokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "hint", "scopes", "created_at", "expires_at", "last_used_at", "revoked_at"]
        read_only_fields = fields


class ApiTokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, help_text=gettext_lazy("What the token is for, e.g. CI"))
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=ApiToken.SCOPES), default=[ApiToken.READ], allow_empty=False,
        help_text=gettext_lazy("read, write, staff (staff only); default read. Not attest: an attest token needs a "
                               "fresh sign-in, so it is created on the API tokens page (/account/tokens/)."),
    )


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    key = serializers.CharField(help_text=gettext_lazy("The token, shown this once: send it as 'Authorization: Bearer "
                                                       "<key>'"))

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "key"]
        read_only_fields = fields


class AccountDeleteSerializer(serializers.Serializer):
    confirm = serializers.CharField(help_text=gettext_lazy("Type DELETE"))
    password = serializers.CharField(help_text=gettext_lazy("Your current password (the page asks you to sign in again)"),
                                     style={"input_type": "password"}, trim_whitespace=False)


# --- views -------------------------------------------------------------------------------


class AccountViewSet(viewsets.ViewSet):
    """Your own settings: the profile, notification delivery, the calendar feed, deleting the account."""

    @extend_schema(methods=["GET"], request=None, responses=ProfileSerializer)
    @extend_schema(methods=["PATCH"], request=ProfileSerializer, responses=ProfileSerializer)
    @action(detail=False, methods=["get", "patch"])
    def profile(self, request):
        """Your name, time zone and language; PATCH changes the fields sent (the profile page's form checks them)."""
        user = request.user
        if request.method == "PATCH":
            serializer = ProfileSerializer(data=request.data, partial=True)
            serializer.is_valid(raise_exception=True)
            current = {"name": user.name, "time_zone": user.time_zone, "language": user.language}
            form = ProfileForm({**current, **serializer.validated_data}, instance=user)
            if not form.is_valid():
                raise ValidationError(_form_errors(form))
            user = accounts.save_profile(form, request=request)
        return Response(ProfileSerializer(user).data)

    def _settings(self, request) -> list[dict]:
        current = digests.preferences(request.user)
        return [{"kind": kind, "label": label, "delivery": current[kind]} for kind, label in digests.choosable_kinds()]

    @extend_schema(methods=["GET"], request=None, responses=NotificationSettingsSerializer)
    @extend_schema(methods=["PATCH"], request=NotificationSettingsUpdateSerializer,
                   responses=NotificationSettingsResultSerializer)
    @action(detail=False, methods=["get", "patch"], url_path="notification-settings")
    def notification_settings(self, request):
        """Per kind of email: at once (``immediate``) or in the daily digest (``digest``).
        In-app notifications always appear."""
        if request.method == "GET":
            return Response({"preferences": self._settings(request)})
        serializer = NotificationSettingsUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        changed = digests.set_preferences(request.user, serializer.validated_data["preferences"])
        return Response({"preferences": self._settings(request), "changed": changed})

    def _feed(self, request) -> dict:
        feed = CalendarFeed.objects.filter(user=request.user).first()
        return {"active": feed is not None, "created_at": feed.created_at if feed else None,
                "last_used_at": feed.last_used_at if feed else None}

    @extend_schema(methods=["GET"], request=None, responses=CalendarFeedSerializer)
    @extend_schema(methods=["DELETE"], request=None, responses={204: None})
    @action(detail=False, methods=["get", "delete"], url_path="calendar")
    def calendar_feed(self, request):
        """Your private calendar (ICS) feed; DELETE revokes its address."""
        if request.method == "DELETE":
            calendar.revoke_feed(request.user, request=request)
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(self._feed(request))

    @extend_schema(request=None, responses={201: CalendarFeedCreatedSerializer})
    @action(detail=False, methods=["post"], url_path="calendar/rotate")
    def calendar_rotate(self, request):
        """A new secret feed address (shown once); the previous one stops working."""
        raw = calendar.create_feed(request.user, request=request)
        url = request.build_absolute_uri(reverse("portal:calendar-feed", args=[raw]))
        return Response({"url": url, "created_at": self._feed(request)["created_at"]}, status=status.HTTP_201_CREATED)

    @extend_schema(request=AccountDeleteSerializer, responses={204: OpenApiResponse(
        description=gettext_lazy("Deleted: name and email erased, memberships and tokens gone; audit entries and filed "
                                 "attestations stay with a pseudonym."))})
    # Not named ``delete``: a viewset method of that name would answer DELETE on every route.
    @action(detail=False, methods=["post"], url_path="delete")
    def delete_account(self, request):
        """Delete your account (DESIGN §3), with the page's confirmations: the password again and DELETE."""
        serializer = AccountDeleteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = request.user
        # The page's re-authentication, under allauth's rate limit for it.
        if not ratelimit.consume(request._request, action="reauthenticate", user=user):
            raise Throttled(detail=_("Too many attempts to confirm your password; try again in a minute."))
        try:
            password_ok = user.has_usable_password() and get_adapter(request._request).reauthenticate(
                user, serializer.validated_data["password"])
        except DjangoValidationError as exc:  # allauth's failed sign-in limit
            raise ValidationError({"password": exc.messages}) from exc
        if not password_ok:
            raise ValidationError({"password": [_("The password is not correct.")]})
        form = DeleteAccountForm({"confirm": serializer.validated_data["confirm"]})
        if not form.is_valid():
            raise ValidationError(_form_errors(form))
        try:
            accounts.anonymize_user(user, request=request)
        except accounts.AccountDeletionError as exc:
            raise ValidationError({"non_field_errors": [str(exc)]}) from exc
        if _by_session(request):
            logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiTokenViewSet(viewsets.GenericViewSet):
    """Your personal API tokens, newest first (revoked ones included, as on the page)."""

    serializer_class = ApiTokenSerializer
    queryset = ApiToken.objects.none()
    pagination_class = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ApiToken.objects.none()
        return ApiToken.objects.filter(user=self.request.user).order_by("-created_at", "-id")

    @extend_schema(responses=ApiTokenSerializer(many=True))
    def list(self, request):
        return Response(ApiTokenSerializer(self.get_queryset(), many=True).data)

    @extend_schema(request=ApiTokenCreateSerializer, responses={201: ApiTokenCreatedSerializer})
    def create(self, request):
        """A new token; its key is in this response only. Staff and auditors create tokens from a
        session that passed two-factor authentication (the page's rule), never with a token."""
        user = request.user
        if user.requires_mfa and not (_by_session(request) and accounts.session_passed_mfa(request._request)):
            raise PermissionDenied(_("Staff and auditors create API tokens from a session that passed two-factor "
                                     "authentication: use the API tokens page."))
        serializer = ApiTokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        form = ApiTokenForm({"name": data["name"], "scopes": data["scopes"]}, user=user)
        if not form.is_valid():
            raise ValidationError(_form_errors(form))
        try:
            token, raw = accounts.create_api_token(user, form.cleaned_data["name"], request=request,
                                                   scopes=data["scopes"])
        except accounts.ApiTokenError as exc:
            raise ValidationError({"scopes": [str(exc)]}) from exc
        return Response({**ApiTokenSerializer(token).data, "key": raw}, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=ApiTokenSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        """Revoke one of your tokens (404 for anyone else's); revoking twice changes nothing."""
        token = self.get_object()
        accounts.revoke_api_token(token, request.user, request=request)
        token.refresh_from_db()
        return Response(ApiTokenSerializer(token).data)


router = SimpleRouter()
router.register("account/tokens", ApiTokenViewSet, basename="account-token")
router.register("account", AccountViewSet, basename="account")
urlpatterns = router.urls
