"""Staff API of post-release monitoring and appeals (DESIGN §4, §7.1): the concern reports, their
dismissal or escalation to a suspension of the certificate, and the appeals queue.

The same services as the staff pages (``certification.certificates.views.registry``), Alliance
staff only, with a ``staff`` token scope (``StaffAPIMixin``)."""

from __future__ import annotations

from django.http import Http404
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from certification.certificates import concerns as certificate_concerns
from certification.certificates import services as certificate_services
from certification.certificates.models import Appeal, ConcernReport
from certification.framework import services as framework_services
from portal.api_staff import StaffAPIMixin


def _refused(exc: framework_services.WorkflowError):
    raise ValidationError(exc.errors) from exc


def _status_filter(request, choices) -> str:
    value = request.query_params.get("status", "")
    if value and value not in choices:
        raise ValidationError({"status": [_("Unknown status; one of %(choices)s.") % {"choices": ", ".join(choices)}]})
    return value


# --- concern reports ------------------------------------------------------------------------------


class ConcernSerializer(serializers.ModelSerializer):
    """A concern report as an incident (issue 16 §2), with its lifecycle."""

    certificate = serializers.CharField(source="certificate.number", read_only=True)
    status = serializers.ChoiceField(choices=ConcernReport.Status.choices, read_only=True)
    severity = serializers.CharField(read_only=True, help_text=gettext_lazy("low, medium, high or critical; empty: not "
                                                                            "rated"))
    resolution = serializers.CharField(read_only=True, help_text=gettext_lazy("fixed, mitigated, not_reproducible or "
                                                                              "out_of_scope once resolved"))
    certificate_status = serializers.SerializerMethodField()
    organization = serializers.CharField(source="certificate.organization.slug", read_only=True)
    handled_by = serializers.SerializerMethodField()

    class Meta:
        model = ConcernReport
        fields = ["id", "certificate", "certificate_status", "organization", "summary", "details", "reporter_email",
                  "created_at", "status", "severity", "acknowledged_at", "investigating_at", "resolved_at",
                  "resolution", "fixed_in", "resolution_note", "handled_by", "handled_at"]
        read_only_fields = fields

    def get_certificate_status(self, concern) -> str:
        return concern.certificate.effective_status()

    def get_handled_by(self, concern) -> str | None:
        return concern.handled_by.email if concern.handled_by else None


class ConcernPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


def _concern(pk: int) -> ConcernReport:
    concern = ConcernReport.objects.select_related("certificate__organization", "certificate__release",
                                                   "handled_by").filter(pk=pk).first()
    if concern is None:
        raise Http404
    return concern


class ConcernListView(StaffAPIMixin, GenericAPIView):
    pagination_class = ConcernPagination
    serializer_class = ConcernSerializer
    queryset = ConcernReport.objects.none()

    @extend_schema(
        operation_id="staff_concerns_list",
        summary=gettext_lazy("Concern reports (staff)"),
        description=gettext_lazy("Concerns reported about certified releases, as incidents, newest first. "
                                 "`status=open`: received, acknowledged or under investigation."),
        parameters=[OpenApiParameter("status", str, enum=["open", *ConcernReport.Status.values])],
        responses=ConcernSerializer(many=True), tags=["staff"],
    )
    def get(self, request):
        qs = ConcernReport.objects.select_related("certificate__organization", "handled_by")
        status = _status_filter(request, ["open", *ConcernReport.Status.values])
        if status == "open":
            qs = qs.open()
        elif status:
            qs = qs.filter(status=status)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(ConcernSerializer(page, many=True).data)


class ConcernDismissView(StaffAPIMixin, GenericAPIView):
    serializer_class = ConcernSerializer

    @extend_schema(
        operation_id="staff_concern_dismiss",
        summary=gettext_lazy("Dismiss a concern (staff)"),
        description=gettext_lazy("Only an open incident (received, acknowledged or under investigation) can be "
                                 "dismissed; the certificate does not change, the reporter is told."),
        request=None, responses=ConcernSerializer, tags=["staff"],
    )
    def post(self, request, pk: int):
        concern = _concern(pk)
        try:
            certificate_concerns.dismiss_concern(concern, request.user, request=request)
        except framework_services.WorkflowError as exc:
            _refused(exc)
        return Response(ConcernSerializer(_concern(pk)).data)


class SuspendInput(serializers.Serializer):
    reason = serializers.CharField(
        required=False, allow_blank=True,
        help_text=gettext_lazy("Shown to the organization; by default “Concern reported: ” and the concern's summary, "
                               "as the page suggests"))


class ConcernSuspendView(StaffAPIMixin, GenericAPIView):
    serializer_class = SuspendInput

    @extend_schema(
        operation_id="staff_concern_suspend",
        summary=gettext_lazy("Escalate a concern: suspend the certificate (staff)"),
        description=gettext_lazy("Suspends the concern's certificate with the reason and marks the incident escalated "
                                 "(if it is still open). Verification answers “suspended” from the next request; the "
                                 "organization's admins and the reporter are told."),
        request=SuspendInput, responses=ConcernSerializer, tags=["staff"],
    )
    def post(self, request, pk: int):
        concern = _concern(pk)
        data = SuspendInput(data=request.data)
        data.is_valid(raise_exception=True)
        reason = data.validated_data.get("reason")
        if reason is None:
            reason = _("Concern reported: %(summary)s") % {"summary": concern.summary}
        try:
            certificate_services.suspend(concern.certificate, request.user, reason, concern=concern, request=request)
        except framework_services.WorkflowError as exc:
            _refused(exc)
        return Response(ConcernSerializer(_concern(pk)).data)


# --- the appeals queue ----------------------------------------------------------------------------


class AppealQueueSerializer(serializers.ModelSerializer):
    organization = serializers.CharField(source="application.release.ai_model.organization.slug", read_only=True)
    model = serializers.CharField(source="application.release.ai_model.name", read_only=True)
    release_version = serializers.CharField(source="application.release.version", read_only=True)
    tier = serializers.IntegerField(source="application.tier", read_only=True, allow_null=True)
    filed_by = serializers.SerializerMethodField()

    class Meta:
        model = Appeal
        fields = ["id", "application", "organization", "model", "release_version", "tier", "status", "grounds",
                  "filed_by", "filed_at", "decided_at"]
        read_only_fields = fields

    def get_filed_by(self, appeal) -> str:
        return appeal.filed_by.email


class AppealPagination(CursorPagination):
    """Oldest first: the queue's order on the page."""

    ordering = ("filed_at", "id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class AppealQueueView(StaffAPIMixin, GenericAPIView):
    pagination_class = AppealPagination
    serializer_class = AppealQueueSerializer
    queryset = Appeal.objects.none()

    @extend_schema(
        operation_id="staff_appeals_list",
        summary=gettext_lazy("The appeals queue (staff)"),
        description=gettext_lazy("Appeals against rejections, oldest first; decide one with `POST "
                                 "/api/v1/appeals/{id}/decide/`."),
        parameters=[OpenApiParameter("status", str, enum=Appeal.Status.values)],
        responses=AppealQueueSerializer(many=True), tags=["staff"],
    )
    def get(self, request):
        qs = Appeal.objects.select_related("application__release__ai_model__organization", "filed_by")
        status = _status_filter(request, Appeal.Status.values)
        if status:
            qs = qs.filter(status=status)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(AppealQueueSerializer(page, many=True).data)


urlpatterns = [
    path("staff/concerns/", ConcernListView.as_view(), name="staff-concern-list"),
    path("staff/concerns/<int:pk>/dismiss/", ConcernDismissView.as_view(), name="staff-concern-dismiss"),
    path("staff/concerns/<int:pk>/suspend/", ConcernSuspendView.as_view(), name="staff-concern-suspend"),
    path("staff/appeals/", AppealQueueView.as_view(), name="staff-appeal-list"),
]
