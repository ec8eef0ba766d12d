"""Authenticated API of the portal app: organizations, memberships, invitations,
notifications and an organization's audit log. Views call the same services as
the HTML views; refused actions come back as 400 with the reason under the
field it concerns, other tenants' objects as 404."""

from __future__ import annotations

from django.db.models import Q
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from portal import api_staff, audit, organizations
from portal.forms import OrganizationForm
from portal.models import AuditEntry, Invitation, Membership, Notification, Organization


class OrganizationPagination(CursorPagination):
    ordering = "slug"


class NotificationPagination(CursorPagination):
    ordering = ("-created_at", "-id")


class AuditPagination(CursorPagination):
    ordering = "-seq"


def _form_errors(form) -> dict[str, list[str]]:
    """A Django form's errors in DRF's shape: ``{"field": ["message", ...]}``."""
    return {
        ("non_field_errors" if field == "__all__" else field): [e["message"] for e in errors]
        for field, errors in form.errors.get_json_data().items()
    }


class OrganizationSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()
    # Plain strings here: the form (shared with the browser) cleans and checks them.
    website = serializers.CharField(required=False, allow_blank=True, max_length=200)
    country = serializers.CharField(required=False, allow_blank=True, max_length=10)

    class Meta:
        model = Organization
        fields = ["slug", "name", "legal_name", "website", "country", "is_alliance_member", "created_at", "role"]
        read_only_fields = ["slug", "created_at", "role"]

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        if request is None or not request.user.is_authenticated or not request.user.is_alliance_staff:
            # Recorded by Alliance staff only; anyone else sending it changes nothing.
            fields["is_alliance_member"].read_only = True
        return fields

    def get_role(self, org) -> str | None:
        return self.context.get("roles", {}).get(org.pk)

    def validate(self, attrs):
        # One set of rules for browser and API: run the form's validation.
        form_fields = OrganizationForm.Meta.fields
        current = {f: getattr(self.instance, f, "") if self.instance is not None else "" for f in form_fields}
        form = OrganizationForm(data={**current, **{k: v for k, v in attrs.items() if k in form_fields}})
        if not form.is_valid():
            raise ValidationError(_form_errors(form))
        return {k: form.cleaned_data[k] if k in form_fields else v for k, v in attrs.items()}


class MembershipSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email", read_only=True)
    name = serializers.CharField(source="user.name", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "email", "name", "role", "created_at"]
        read_only_fields = ["id", "email", "name", "created_at"]


class InvitationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "created_at", "expires_at"]
        read_only_fields = ["id", "created_at", "expires_at"]


class InvitationAcceptSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=200)


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = ["id", "kind", "subject", "body", "url", "created_at", "read_at"]
        read_only_fields = fields


class AuditEntrySerializer(serializers.Serializer):
    """An entry as an organization admin sees it (staff IPs and details redacted)."""

    seq = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    actor = serializers.CharField()
    action = serializers.CharField()
    object_repr = serializers.CharField()
    ip = serializers.IPAddressField(allow_null=True)
    payload = serializers.DictField()


class OrganizationViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Organizations you belong to (all of them for staff)."""

    serializer_class = OrganizationSerializer
    pagination_class = OrganizationPagination
    lookup_field = "slug"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return Organization.objects.visible_to(self.request.user).distinct()

    def get_serializer_context(self):
        ctx = super().get_serializer_context()
        if self.request.user.is_authenticated:
            ctx["roles"] = dict(Membership.objects.filter(user=self.request.user).values_list("organization_id", "role"))
        return ctx

    def _membership(self, org) -> Membership | None:
        return organizations.get_membership(self.request.user, org)

    def _require_admin(self, org) -> None:
        membership = self._membership(org)
        if membership is None or not membership.is_admin:
            raise PermissionDenied(_("Only organization admins may do this."))

    def perform_create(self, serializer):
        org = organizations.create_organization(self.request.user, request=self.request, **serializer.validated_data)
        serializer.instance = org
        serializer.context.setdefault("roles", {})[org.pk] = Membership.Role.ADMIN

    def update(self, request, *args, **kwargs):
        # Permission before validation: a member learns nothing from field errors.
        if not request.user.is_alliance_staff:
            self._require_admin(self.get_object())
        return super().update(request, *args, **kwargs)

    def perform_update(self, serializer):
        organizations.update_profile(serializer.instance, self.request.user, serializer.validated_data, request=self.request)

    @extend_schema(responses=MembershipSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None)
    def members(self, request, slug=None):
        org = self.get_object()
        qs = Membership.objects.filter(organization=org).select_related("user").order_by("user__email")
        return Response(MembershipSerializer(qs, many=True).data)

    @extend_schema(methods=["PATCH"], request=MembershipSerializer, responses=MembershipSerializer)
    @extend_schema(methods=["DELETE"], request=None, responses={204: None})
    @action(detail=True, methods=["patch", "delete"], url_path=r"members/(?P<member_id>\d+)")
    def member(self, request, slug=None, member_id=None):
        """PATCH changes a member's role (admins); DELETE removes a member (admins) or leaves (yourself)."""
        org = self.get_object()
        membership = Membership.objects.filter(organization=org, pk=member_id).select_related("user").first()
        if membership is None:
            raise Http404
        is_self = membership.user_id == request.user.pk
        if not (is_self and request.method == "DELETE"):
            self._require_admin(org)
        if request.method == "DELETE":
            try:
                organizations.remove_member(membership, request.user, request=request)
            except organizations.OrganizationError as exc:
                raise ValidationError({"non_field_errors": [str(exc)]}) from exc
            return Response(status=status.HTTP_204_NO_CONTENT)
        serializer = MembershipSerializer(membership, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        try:
            membership = organizations.change_role(
                membership, serializer.validated_data.get("role", membership.role), request.user, request=request
            )
        except organizations.OrganizationError as exc:
            raise ValidationError({"role": [str(exc)]}) from exc
        return Response(MembershipSerializer(membership).data)

    @extend_schema(methods=["GET"], request=None, responses=InvitationSerializer(many=True))
    @extend_schema(methods=["POST"], request=InvitationSerializer, responses={201: InvitationSerializer})
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def invitations(self, request, slug=None):
        """Pending invitations (admins); POST invites an email address."""
        org = self.get_object()
        self._require_admin(org)
        if request.method == "GET":
            return Response(InvitationSerializer(Invitation.objects.pending().filter(organization=org), many=True).data)
        serializer = InvitationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            invitation, _token = organizations.invite(
                org,
                request.user,
                serializer.validated_data["email"],
                serializer.validated_data.get("role", Membership.Role.MEMBER),
                request=request,
            )
        except organizations.OrganizationError as exc:
            raise ValidationError({"email": [str(exc)]}) from exc
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["delete"], url_path=r"invitations/(?P<invitation_id>\d+)")
    def invitation(self, request, slug=None, invitation_id=None):
        """Withdraw a pending invitation (admins)."""
        org = self.get_object()
        self._require_admin(org)
        invitation = Invitation.objects.filter(organization=org, pk=invitation_id).first()
        if invitation is None:
            raise Http404
        try:
            organizations.revoke_invitation(invitation, request.user, request=request)
        except organizations.OrganizationError as exc:
            raise ValidationError({"non_field_errors": [str(exc)]}) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses=AuditEntrySerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=AuditPagination)
    def audit(self, request, slug=None):
        """The organization's audit entries (admins), staff IPs and staff-only details redacted."""
        org = self.get_object()
        self._require_admin(org)
        qs = AuditEntry.objects.for_organization(org).select_related("actor")
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(
            AuditEntrySerializer([audit.redact_for_organization(e) for e in page], many=True).data
        )


class InvitationAcceptViewSet(viewsets.ViewSet):
    """Accept an invitation with the token from its email (signed in with the invited address)."""

    @extend_schema(request=InvitationAcceptSerializer, responses={201: MembershipSerializer})
    @action(detail=False, methods=["post"])
    def accept(self, request):
        serializer = InvitationAcceptSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            membership = organizations.accept_invitation(serializer.validated_data["token"], request.user, request=request)
        except organizations.OrganizationError as exc:
            raise ValidationError({"token": [str(exc)]}) from exc
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)


class NotificationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Your notifications, newest first."""

    serializer_class = NotificationSerializer
    pagination_class = NotificationPagination
    queryset = Notification.objects.none()  # the schema's model; requests use get_queryset

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Notification.objects.none()
        return Notification.objects.filter(user=self.request.user)

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        """Mark one of your notifications read; 404 for anyone else's."""
        note = self.get_object()
        Notification.objects.filter(pk=note.pk, read_at__isnull=True).update(read_at=timezone.now())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={204: None})
    @action(detail=False, methods=["post"], url_path="read-all")
    def read_all(self, request):
        Notification.objects.filter(Q(user=request.user), Q(read_at__isnull=True)).update(read_at=timezone.now())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=None, responses=inline_serializer("UnreadCount", fields={"unread": serializers.IntegerField()})
    )
    @action(detail=False, methods=["get"], url_path="unread-count")
    def unread_count(self, request):
        return Response({"unread": Notification.objects.filter(user=request.user).unread().count()})


router = DefaultRouter()
# No ".json" twins: the API speaks JSON only, and the @action methods take no format argument.
router.include_format_suffixes = False
router.register("organizations", OrganizationViewSet, basename="organization")
router.register("invitations", InvitationAcceptViewSet, basename="invitation")
router.register("notifications", NotificationViewSet, basename="notification")

urlpatterns = router.urls + api_staff.urlpatterns
