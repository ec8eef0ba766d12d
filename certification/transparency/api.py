"""Staff API of the annual transparency report (DESIGN §7.1, issue 8): the years with figures,
refreshing the figures, a year's draft with its digest, and publishing the draft as the year's
snapshot. The public report stays where it is (``/report/<year>/report.json``).

The same services as the staff report pages (``certification.transparency.views``), Alliance
staff only, with a ``staff`` token scope (``StaffAPIMixin``). Publishing names the digest of the
draft that was checked, so figures refreshed in between are refused, as on the page."""

from __future__ import annotations

from django.http import Http404
from django.urls import path, reverse
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from certification.framework.services import WorkflowError
from certification.transparency import figures as transparency_figures
from certification.transparency import rollups as transparency_rollups
from certification.transparency import services as transparency_services
from certification.transparency.models import ReportSnapshot, ReportTierRollup
from portal.api_staff import StaffAPIMixin


class ReportYearSerializer(serializers.Serializer):
    year = serializers.IntegerField()
    computed_at = serializers.DateTimeField(allow_null=True, help_text=gettext_lazy("When the draft's figures were "
                                                                                    "computed"))
    published = serializers.BooleanField()
    sha256 = serializers.CharField(allow_null=True, help_text=gettext_lazy("The published snapshot's digest"))
    published_at = serializers.DateTimeField(allow_null=True)


class RefreshSerializer(serializers.Serializer):
    years = serializers.IntegerField(help_text=gettext_lazy("How many years' figures were recomputed"))


class DraftSerializer(serializers.Serializer):
    year = serializers.IntegerField()
    sha256 = serializers.CharField(help_text=gettext_lazy("Digest of the draft; send it back to publish exactly this "
                                                          "draft"))
    published = serializers.BooleanField(help_text=gettext_lazy("Whether the year is published already"))
    data = serializers.DictField(help_text=gettext_lazy("The report as it would be published (schema of report.json)"))


class PublishInput(serializers.Serializer):
    draft_sha256 = serializers.RegexField(r"^[0-9a-f]{64}$", help_text=gettext_lazy("The `sha256` of the draft you "
                                                                                    "checked"))


class SnapshotSerializer(serializers.Serializer):
    year = serializers.IntegerField()
    sha256 = serializers.CharField()
    published_at = serializers.DateTimeField()
    url = serializers.CharField(help_text=gettext_lazy("Path of the public report.json"))


class ReportYearsView(StaffAPIMixin, GenericAPIView):
    pagination_class = None
    serializer_class = ReportYearSerializer
    queryset = ReportSnapshot.objects.none()

    @extend_schema(operation_id="staff_report_years", summary=gettext_lazy("Years of the transparency report (staff)"),
                   responses=ReportYearSerializer(many=True), tags=["staff"])
    def get(self, request):
        published = {s.year: s for s in ReportSnapshot.objects.only("year", "sha256", "published_at")}
        rollups = {r.year: r for r in ReportTierRollup.objects.filter(tier=transparency_figures.ALL)}
        rows = [{"year": y, "computed_at": rollups[y].computed_at if y in rollups else None,
                 "published": y in published, "sha256": published[y].sha256 if y in published else None,
                 "published_at": published[y].published_at if y in published else None}
                for y in sorted(set(rollups) | set(published), reverse=True)]
        return Response(ReportYearSerializer(rows, many=True).data)


class ReportRefreshView(StaffAPIMixin, GenericAPIView):
    serializer_class = RefreshSerializer

    @extend_schema(operation_id="staff_report_refresh", summary=gettext_lazy("Recompute the report's figures (staff)"),
                   description=gettext_lazy("Every year's figures, from the source tables; drafts change, published "
                                            "years do not."),
                   request=None, responses=RefreshSerializer, tags=["staff"])
    def post(self, request):
        count = transparency_rollups.refresh_by_staff(request.user, request=request)
        return Response({"years": count})


def _draft_or_404(year: int) -> dict:
    data = transparency_services.build_draft(year)
    if data is None:
        raise Http404
    return data


class ReportDraftView(StaffAPIMixin, GenericAPIView):
    serializer_class = DraftSerializer

    @extend_schema(operation_id="staff_report_draft", summary=gettext_lazy("A year's draft report and its digest "
                                                                           "(staff)"),
                   responses=DraftSerializer, tags=["staff"])
    def get(self, request, year: int):
        data = _draft_or_404(year)
        return Response({"year": year, "sha256": transparency_services.draft_digest(data),
                         "published": ReportSnapshot.objects.filter(year=year).exists(), "data": data})


class ReportPublishView(StaffAPIMixin, GenericAPIView):
    serializer_class = PublishInput

    @extend_schema(operation_id="staff_report_publish", summary=gettext_lazy("Publish a year's report (staff)"),
                   description=gettext_lazy("Freezes the draft whose digest you send as the year's snapshot. Refused "
                                            "while the year is not over, when its figures were computed before its "
                                            "end, when the draft changed since (a refresh ran), or when the year is "
                                            "published already."),
                   request=PublishInput, responses={201: SnapshotSerializer}, tags=["staff"])
    def post(self, request, year: int):
        _draft_or_404(year)
        data = PublishInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            snapshot = transparency_services.publish(year, request.user, data.validated_data["draft_sha256"],
                                                     request=request)
        except WorkflowError as exc:
            raise ValidationError(exc.errors) from exc
        body = SnapshotSerializer({"year": snapshot.year, "sha256": snapshot.sha256,
                                   "published_at": snapshot.published_at,
                                   "url": reverse("certification:report-json", args=[snapshot.year])}).data
        return Response(body, status=status.HTTP_201_CREATED)


urlpatterns = [
    path("staff/report/", ReportYearsView.as_view(), name="staff-report-years"),
    path("staff/report/refresh/", ReportRefreshView.as_view(), name="staff-report-refresh"),
    path("staff/report/<int:year>/", ReportDraftView.as_view(), name="staff-report-draft"),
    path("staff/report/<int:year>/publish/", ReportPublishView.as_view(), name="staff-report-publish"),
]
