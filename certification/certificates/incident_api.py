"""API of post-release incidents (issue 16 §2), mounted at ``/api/v1/``: the same service functions
and access rules as the pages (``views/incidents.py``).

- ``GET /incidents/`` and ``GET /incidents/<id>/``: the incidents about the releases of your
  organizations (every incident for staff); anyone else's are 404.
- ``POST /incidents/<id>/acknowledge/``, ``investigate/``, ``resolve/``: the organization's admins
  (403 for its other members, as on the pages).
- ``POST /incidents/<id>/severity/``: staff (``staff`` token scope). Staff dismiss and escalate
  with ``/api/v1/staff/concerns/<id>/dismiss/`` and ``suspend/`` (``staff_api``).
- ``GET /certificates/<number>/incidents/``: public, the certificate page's incident history.

Refused transitions are 400 with the reason under the field concerned."""

from __future__ import annotations

from django.http import Http404
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.views import APIView

from certification.certificates import incidents
from certification.certificates.models import Certificate, ConcernReport
from certification.framework.services import WorkflowError
from portal import organizations
from portal.api_auth import requires_scope
from portal.validators import plain_text

OPEN_FILTER = "open"


class IncidentSerializer(serializers.ModelSerializer):
    """An incident as its organization and staff see it (the details included)."""

    certificate = serializers.CharField(source="certificate.number", read_only=True)
    organization = serializers.CharField(source="certificate.organization.slug", read_only=True)
    model = serializers.CharField(source="certificate.release.ai_model.name", read_only=True)
    release = serializers.CharField(source="certificate.release.version", read_only=True)
    title = serializers.CharField(source="summary", read_only=True, help_text=gettext_lazy("The reporter's summary"))
    status = serializers.ChoiceField(choices=ConcernReport.Status.choices, read_only=True)
    severity = serializers.CharField(read_only=True, help_text=gettext_lazy("low, medium, high or critical; empty: not "
                                                                            "rated"))
    resolution = serializers.CharField(read_only=True, help_text=gettext_lazy("fixed, mitigated, not_reproducible or "
                                                                              "out_of_scope once resolved; empty before"))
    acknowledge_by = serializers.SerializerMethodField(help_text=gettext_lazy("The acknowledgement's due time while "
                                                                              "received"))
    reported_at = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = ConcernReport
        fields = ["id", "certificate", "organization", "model", "release", "title", "details", "reporter_email",
                  "severity", "status", "reported_at", "acknowledge_by", "acknowledged_at", "investigating_at",
                  "resolved_at", "resolution", "fixed_in", "resolution_note", "handled_at"]
        read_only_fields = fields

    def get_acknowledge_by(self, incident) -> str | None:
        if incident.status != ConcernReport.Status.RECEIVED:
            return None
        due = self.context.get("dues", {}).get(incident.pk)
        return serializers.DateTimeField().to_representation(due) if due else None


class ResolveInput(serializers.Serializer):
    resolution = serializers.ChoiceField(choices=ConcernReport.Resolution.choices)
    note = serializers.CharField(
        help_text=gettext_lazy("Public: shown on the certificate page and sent to the reporter"))
    fixed_in = serializers.CharField(required=False, allow_blank=True, max_length=100, validators=[plain_text],
                                     help_text=gettext_lazy("The release that fixes it (resolution fixed)"))


class SeverityInput(serializers.Serializer):
    severity = serializers.ChoiceField(choices=ConcernReport.Severity.choices)


class PublicIncidentSerializer(serializers.Serializer):
    title = serializers.CharField()
    status = serializers.ChoiceField(choices=ConcernReport.Status.choices)
    reported_at = serializers.DateTimeField()
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    resolved_at = serializers.DateTimeField(allow_null=True)
    resolution = serializers.ChoiceField(choices=ConcernReport.Resolution.choices, allow_null=True)
    fixed_in = serializers.CharField(allow_null=True)
    resolution_note = serializers.CharField(allow_null=True)


class IncidentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Incidents about your organizations' certified releases, newest first."""

    serializer_class = IncidentSerializer
    queryset = ConcernReport.objects.none()

    def get_queryset(self):
        qs = (ConcernReport.objects.visible_to(self.request.user)
              .select_related("certificate__organization", "certificate__release__ai_model")
              .order_by("-created_at", "-pk"))
        if self.action == "list":
            status = self.request.query_params.get("status", "")
            if status == OPEN_FILTER:
                qs = qs.open()
            elif status:
                if status not in ConcernReport.Status.values:
                    raise ValidationError({"status": [_("Unknown status; one of %(choices)s.") % {
                        "choices": ", ".join([OPEN_FILTER, *ConcernReport.Status.values])}]})
                qs = qs.filter(status=status)
        return qs

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "dues": getattr(self, "_dues", {})}

    @extend_schema(parameters=[OpenApiParameter(
        "status", str, enum=[OPEN_FILTER, *ConcernReport.Status.values],
        description=gettext_lazy("Only incidents in this status; open: received, acknowledged or under investigation"))])
    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        rows = page if page is not None else list(self.get_queryset())
        self._dues = incidents.acknowledgement_dues(rows)
        data = self.get_serializer(rows, many=True).data
        return self.get_paginated_response(data) if page is not None else Response(data)

    def retrieve(self, request, *args, **kwargs):
        return Response(self._data(self.get_object()))

    def _data(self, incident: ConcernReport) -> dict:
        self._dues = incidents.acknowledgement_dues([incident])
        return self.get_serializer(incident).data

    def _run(self, incident: ConcernReport, run, *args) -> Response:
        """One step of the incident's workflow; its refusal is a 400, its result the incident as now."""
        try:
            run(incident, self.request.user, *args, request=self.request)
        except WorkflowError as exc:
            raise ValidationError(exc.errors) from exc
        incident.refresh_from_db()
        return Response(self._data(incident))

    def _answer(self, run, *args) -> Response:
        incident = self.get_object()
        if not organizations.is_org_admin(self.request.user, incident.certificate.organization):
            raise PermissionDenied(_("Only an admin of the organization may answer its incidents."))
        return self._run(incident, run, *args)

    @extend_schema(request=None, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        """Acknowledge a received incident (organization admins): its deadline closes, the reporter is told."""
        return self._answer(incidents.acknowledge)

    @extend_schema(request=None, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    def investigate(self, request, pk=None):
        """Start investigating an acknowledged incident (organization admins)."""
        return self._answer(incidents.start_investigation)

    @extend_schema(request=ResolveInput, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        """Resolve an acknowledged incident or one under investigation with a public note (organization admins)."""
        data = ResolveInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        return self._answer(incidents.resolve, values["resolution"], values["note"], values.get("fixed_in", ""))

    @extend_schema(request=SeverityInput, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    @requires_scope("staff")
    def severity(self, request, pk=None):
        """Set the incident's severity (staff)."""
        if not request.user.is_alliance_staff:
            raise PermissionDenied(_("Only Alliance staff may do this."))
        incident = self.get_object()
        data = SeverityInput(data=request.data)
        data.is_valid(raise_exception=True)
        return self._run(incident, incidents.set_severity, data.validated_data["severity"])


class PublicIncidentHistoryView(APIView):
    """Public: the certificate page's incident history (no details, reporter or severity)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(operation_id="certificates_incidents",
                   summary=gettext_lazy("A certificate's public incident history"),
                   description=gettext_lazy("Incidents reported after certification, once resolved or, by default, 90 "
                                            "days after the organization acknowledged them, whichever comes first; "
                                            "oldest first."),
                   responses=PublicIncidentSerializer(many=True), auth=[], tags=["public"])
    def get(self, request, number: str):
        cert = Certificate.objects.select_related("framework_version").filter(number=number.upper()).first()
        if cert is None:
            raise Http404
        return Response(PublicIncidentSerializer([i.as_json() for i in incidents.public_history(cert)],
                                                 many=True).data)


router = SimpleRouter()
router.register("incidents", IncidentViewSet, basename="incident")
urlpatterns = [
    *router.urls,
    path("certificates/<str:number>/incidents/", PublicIncidentHistoryView.as_view(),
         name="certificate-incidents"),
]
