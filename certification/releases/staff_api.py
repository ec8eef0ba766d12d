"""Staff API of the workflow (DESIGN §7.1): raising a release's tier with a reason, handing an
application over to another staff member, and the screening queue with the page's filters.

The same services as the staff pages (``certification.releases.views.staff``), the same
access (Alliance staff; other objects 404), and a ``staff`` token scope (``StaffAPIMixin``)."""

from __future__ import annotations

from django.http import Http404
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from certification.framework import services as framework_services
from certification.releases import applications as release_applications
from certification.releases.api import ApplicationSerializer, ReleaseSerializer
from certification.releases.forms import ScreeningFilterForm
from certification.releases.models import Application, Release
from portal.api_staff import StaffAPIMixin, form_error
from portal.models import User


def _refused(exc: framework_services.WorkflowError):
    raise ValidationError(exc.errors) from exc


class RaiseTierInput(serializers.Serializer):
    tier = serializers.ChoiceField(choices=[2, 3, 4], help_text=gettext_lazy("The new tier, above the current one"))
    reason = serializers.CharField(help_text=gettext_lazy("Why the tier is raised; the organization is told"))


class HandOverInput(serializers.Serializer):
    owner = serializers.EmailField(help_text=gettext_lazy("Email of the staff member who takes the application over"))


class RaiseTierView(StaffAPIMixin, GenericAPIView):
    serializer_class = RaiseTierInput

    @extend_schema(
        operation_id="release_raise_tier",
        summary=gettext_lazy("Raise a release's tier (staff)"),
        description=gettext_lazy("Never below the computed tier. After submission the application returns to changes "
                                 "requested for the sections the new tier adds."),
        request=RaiseTierInput, responses=ReleaseSerializer, tags=["staff"],
    )
    def post(self, request, pk: int):
        release = Release.objects.select_related("ai_model__organization").filter(pk=pk).first()
        if release is None:
            raise Http404
        data = RaiseTierInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            release_applications.raise_tier(release, request.user, data.validated_data["tier"],
                                            data.validated_data["reason"], request=request)
        except framework_services.WorkflowError as exc:
            _refused(exc)
        release.refresh_from_db()
        return Response(ReleaseSerializer(release, context={"request": request}).data)


class HandOverView(StaffAPIMixin, GenericAPIView):
    serializer_class = HandOverInput

    @extend_schema(
        operation_id="application_hand_over",
        summary=gettext_lazy("Hand an application over to another staff member"),
        description=gettext_lazy("The new owner must be Alliance staff; they are notified."),
        request=HandOverInput, responses=ApplicationSerializer, tags=["staff"],
    )
    def post(self, request, pk: int):
        app = (Application.objects.select_related("release__ai_model__organization", "framework_version", "owner")
               .filter(pk=pk).first())
        if app is None:
            raise Http404
        data = HandOverInput(data=request.data)
        data.is_valid(raise_exception=True)
        new_owner = User.objects.filter(email__iexact=data.validated_data["owner"], is_active=True).first()
        if new_owner is None:
            raise ValidationError({"owner": [_("No active account has this email.")]})
        try:
            release_applications.hand_over(app, request.user, new_owner, request=request)
        except framework_services.WorkflowError as exc:
            _refused(exc)
        app.refresh_from_db()
        return Response(ApplicationSerializer(app).data)


# --- the screening queue ---------------------------------------------------------------------------


class QueuePagination(CursorPagination):
    """Oldest submission first, as on the page."""

    ordering = ("submitted_at", "id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class QueueItemSerializer(serializers.ModelSerializer):
    """A queue row: what the page shows, without a query per row."""

    organization = serializers.SlugRelatedField(source="release.ai_model.organization", slug_field="slug",
                                                read_only=True)
    model = serializers.CharField(source="release.ai_model.name", read_only=True)
    release_version = serializers.CharField(source="release.version", read_only=True)
    framework_version = serializers.SlugRelatedField(slug_field="version", read_only=True)
    # Plain text in the schema: a second use of the applications' status enum would rename it.
    status = serializers.CharField(read_only=True, help_text=gettext_lazy("submitted, screening, in_review or "
                                                                          "decision_pending"))
    owner = serializers.SerializerMethodField()
    waiting_days = serializers.SerializerMethodField()

    class Meta:
        model = Application
        fields = ["id", "release", "organization", "model", "release_version", "framework_version", "status",
                  "tier", "owner", "submitted_at", "waiting_days"]
        read_only_fields = fields

    def get_owner(self, app) -> str | None:
        return app.owner.email if app.owner else None

    def get_waiting_days(self, app) -> int | None:
        return (timezone.now() - app.submitted_at).days if app.submitted_at else None


class ScreeningQueueView(StaffAPIMixin, GenericAPIView):
    pagination_class = QueuePagination
    serializer_class = QueueItemSerializer
    queryset = Application.objects.none()

    @extend_schema(
        operation_id="screening_queue",
        summary=gettext_lazy("The screening queue (staff)"),
        description=gettext_lazy("Applications waiting for staff (submitted, screening, in review, decision pending), "
                                 "oldest submission first, with the filters of the queue page."),
        parameters=[
            OpenApiParameter("tier", int, enum=[1, 2, 3, 4]),
            OpenApiParameter("min_age_days", int, description=gettext_lazy("Waiting at least this many days")),
            OpenApiParameter("framework_version", str, description=gettext_lazy("e.g. 2025.1")),
            OpenApiParameter("owner", str, enum=["me", "none"], description=gettext_lazy("Owned by you, or by nobody "
                                                                                         "yet")),
        ],
        responses=QueueItemSerializer(many=True), tags=["staff"],
    )
    def get(self, request):
        form = ScreeningFilterForm({k: request.query_params.get(k, "") for k in ScreeningFilterForm.base_fields})
        if not form.is_valid():
            raise form_error(form)
        qs = form.apply(
            Application.objects.staff_queue().select_related("release__ai_model__organization", "framework_version",
                                                             "owner"),
            request.user, timezone.now())
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(QueueItemSerializer(page, many=True).data)


urlpatterns = [
    path("releases/<int:pk>/raise-tier/", RaiseTierView.as_view(), name="release-raise-tier"),
    path("applications/<int:pk>/hand-over/", HandOverView.as_view(), name="application-hand-over"),
    path("staff/screening-queue/", ScreeningQueueView.as_view(), name="screening-queue"),
]
