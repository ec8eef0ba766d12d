"""Authenticated API of the portal app: organizations, memberships, invitations,
notifications. Views call the same services as the HTML views."""

from __future__ import annotations

from django.db import transaction
from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from . import organizations
from .forms import OrganizationForm
from .models import Invitation, Membership, Notification, Organization


class OrganizationSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Organization
        fields = ["slug", "name", "legal_name", "website", "country", "is_alliance_member", "created_at", "role"]
        read_only_fields = ["slug", "is_alliance_member", "created_at", "role"]

    def get_role(self, org) -> str | None:
        roles = self.context.get("roles", {})
        return roles.get(org.pk)

    def validate(self, attrs):
        # One set of rules for browser and API: reuse the form's validation.
        form = OrganizationForm(data={**{f: getattr(self.instance, f, "") for f in OrganizationForm.Meta.fields}, **attrs})
        if not form.is_valid():
            raise ValidationError(form.errors)
        return {k: form.cleaned_data[k] for k in attrs}


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


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = ["id", "kind", "subject", "body", "url", "created_at", "read_at"]
        read_only_fields = fields


class OrganizationViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Organizations you belong to (all of them for staff)."""

    serializer_class = OrganizationSerializer
    lookup_field = "slug"
    ordering = "name"
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return Organization.objects.visible_to(self.request.user).distinct().order_by("name")

    def get_serializer_context(self):
        ctx = super().get_serializer_context()
        if self.request.user.is_authenticated:
            ctx["roles"] = dict(Membership.objects.filter(user=self.request.user).values_list("organization_id", "role"))
        return ctx

    def _membership(self, org):
        return organizations.get_membership(self.request.user, org)

    def _require_admin(self, org):
        membership = self._membership(org)
        if membership is None or not membership.is_admin:
            raise PermissionDenied("Only organization admins may do this.")

    def perform_create(self, serializer):
        serializer.instance = organizations.create_organization(
            self.request.user, request=self.request, **serializer.validated_data
        )

    def perform_update(self, serializer):
        org = serializer.instance
        if not self.request.user.is_alliance_staff:
            self._require_admin(org)
        organizations.update_profile(org, self.request.user, serializer.validated_data, request=self.request)

    @extend_schema(responses=MembershipSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None)
    def members(self, request, slug=None):
        org = self.get_object()
        qs = Membership.objects.filter(organization=org).select_related("user").order_by("user__email")
        return Response(MembershipSerializer(qs, many=True).data)

    @extend_schema(request=MembershipSerializer, responses=MembershipSerializer)
    @action(detail=True, methods=["patch", "delete"], url_path=r"members/(?P<member_id>\d+)")
    def member(self, request, slug=None, member_id=None):
        org = self.get_object()
        membership = Membership.objects.filter(organization=org, pk=member_id).select_related("user").first()
        if membership is None:
            raise Http404
        is_self = membership.user_id == request.user.pk
        if not (is_self and request.method == "DELETE"):
            self._require_admin(org)
        try:
            if request.method == "DELETE":
                organizations.remove_member(membership, request.user, request=request)
                return Response(status=status.HTTP_204_NO_CONTENT)
            serializer = MembershipSerializer(membership, data=request.data, partial=True)
            serializer.is_valid(raise_exception=True)
            membership = organizations.change_role(
                membership, serializer.validated_data.get("role", membership.role), request.user, request=request
            )
        except organizations.OrganizationError as exc:
            raise ValidationError({"role": [str(exc)]}) from exc
        return Response(MembershipSerializer(membership).data)

    @extend_schema(request=InvitationSerializer, responses={201: InvitationSerializer})
    @action(detail=True, methods=["get", "post"])
    def invitations(self, request, slug=None):
        org = self.get_object()
        self._require_admin(org)
        if request.method == "GET":
            return Response(InvitationSerializer(Invitation.objects.pending().filter(organization=org), many=True).data)
        serializer = InvitationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            invitation, _ = organizations.invite(
                org, request.user, serializer.validated_data["email"], serializer.validated_data.get("role", "member"),
                request=request,
            )
        except organizations.OrganizationError as exc:
            raise ValidationError({"email": [str(exc)]}) from exc
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)


class NotificationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Your notifications, newest first."""

    serializer_class = NotificationSerializer
    ordering = "-created_at"

    def get_queryset(self):
        return Notification.objects.filter(user=self.request.user)

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        updated = Notification.objects.filter(pk=pk, user=request.user).update(read_at=timezone.now())
        if not updated:
            raise Http404
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: None})
    @action(detail=False, methods=["get"], url_path="unread-count")
    def unread_count(self, request):
        return Response({"unread": Notification.objects.filter(user=request.user, read_at__isnull=True).count()})


router = DefaultRouter()
router.register("organizations", OrganizationViewSet, basename="organization")
router.register("notifications", NotificationViewSet, basename="notification")

urlpatterns = router.urls

__all__ = ["urlpatterns", "transaction"]
