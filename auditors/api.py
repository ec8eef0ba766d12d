"""Authenticated API of the auditor network (DESIGN §7.1, last line): the same
service functions and access rules as the pages. Auditors see only their own
offers and engagements; other people's rows are 404; refused actions are 400
with the reason under the field it concerns."""

from __future__ import annotations

from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from auditors import access, conflicts, reports
from auditors import services as auditor_services
from auditors.assignment import batch as assignment_batch
from auditors.assignment import offers as assignment_offers
from auditors.assignment import suggestions as assignment_suggestions
from auditors.models import Accreditation, Affiliation, AuditReport, Engagement, Offer, ReportCondition, SupportingFile
from certification.framework.services import WorkflowError
from certification.releases import evidence
from certification.releases.models import Application
from portal.api_auth import requires_scope
from portal.parsers import JSONParser, max_body_bytes
from portal.parsing import ParseError, load_json


def _raise(exc: WorkflowError):
    raise ValidationError(exc.errors) from exc


def _is_id(value: str) -> bool:
    """ASCII digits only: ``str.isdigit`` is also true of "²", which ``int()`` refuses."""
    return value.isascii() and value.isdigit()


def _staff(request) -> None:
    if not request.user.is_alliance_staff:
        raise PermissionDenied(_("Only Alliance staff may do this."))


# --- serializers ---------------------------------------------------------------------------


class AffiliationSerializer(serializers.ModelSerializer):
    organization = serializers.IntegerField(source="organization_id", required=False, allow_null=True,
                                            help_text=gettext_lazy("Id of the organization when it is in the portal"))

    class Meta:
        model = Affiliation
        fields = ["id", "organization", "organization_name", "relation", "started_on", "ended_on"]
        read_only_fields = ["id"]


class SupportingFileSerializer(serializers.ModelSerializer):
    class Meta:
        model = SupportingFile
        fields = ["id", "display_name", "family", "size", "sha256", "uploaded_at"]
        read_only_fields = fields


class AccreditationSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email", read_only=True)
    name = serializers.CharField(source="user.display_name", read_only=True)
    affiliations = AffiliationSerializer(many=True, required=False)
    files = SupportingFileSerializer(many=True, read_only=True)
    requested_tiers = serializers.ListField(child=serializers.IntegerField(min_value=3, max_value=4), required=False)
    requested_domains = serializers.ListField(child=serializers.CharField(), required=False)
    email_domains = serializers.ListField(child=serializers.CharField(), required=False)
    tiers = serializers.ListField(child=serializers.IntegerField(), read_only=True)
    domains = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Accreditation
        fields = ["id", "email", "name", "role", "kind", "firm", "status", "requested_tiers", "requested_domains",
                  "tiers", "domains", "capacity", "email_domains", "statement", "listed_publicly", "approved_at",
                  "valid_until", "decision_reason", "created_at", "affiliations", "files"]
        read_only_fields = ["id", "email", "name", "status", "tiers", "domains", "listed_publicly", "approved_at",
                            "valid_until", "decision_reason", "created_at", "files"]


class DirectoryEntrySerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="user.display_name", read_only=True)
    domains = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Accreditation
        fields = ["name", "firm", "kind", "role", "domains"]
        read_only_fields = fields


class ApproveSerializer(serializers.Serializer):
    tiers = serializers.ListField(child=serializers.IntegerField(), required=False)
    domains = serializers.ListField(child=serializers.CharField(), required=False)
    capacity = serializers.IntegerField(min_value=1, max_value=20, required=False)
    valid_until = serializers.DateTimeField(required=False, help_text=gettext_lazy("Default: two years from now"))


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField()


class ListingSerializer(serializers.Serializer):
    listed_publicly = serializers.BooleanField()


class OverrideSerializer(serializers.Serializer):
    application = serializers.IntegerField()
    accreditation = serializers.IntegerField()
    code = serializers.ChoiceField(choices=[(c, c) for c in conflicts.POTENTIAL_CODES + conflicts.HARD_CODES])
    reason = serializers.CharField()


class BatchRequestSerializer(serializers.Serializer):
    applications = serializers.ListField(child=serializers.IntegerField(), required=False,
                                         help_text=gettext_lazy("Default: every Tier 3/4 application in review"))


class OfferSerializer(serializers.ModelSerializer):
    application = serializers.PrimaryKeyRelatedField(queryset=Application.objects.all())
    accreditation = serializers.PrimaryKeyRelatedField(queryset=Accreditation.objects.all())
    auditor = serializers.CharField(source="accreditation.user.display_name", read_only=True)
    release = serializers.CharField(source="application.release", read_only=True)
    organization = serializers.CharField(source="application.release.ai_model.organization.name", read_only=True)
    tier = serializers.IntegerField(source="application.tier", read_only=True)

    class Meta:
        model = Offer
        fields = ["id", "application", "accreditation", "auditor", "release", "organization", "tier", "status",
                  "sent_at", "expires_at", "responded_at", "decline_reason", "decline_note",
                  "confidentiality_accepted_at"]
        read_only_fields = ["id", "auditor", "release", "organization", "tier", "status", "sent_at", "expires_at",
                            "responded_at", "decline_reason", "decline_note", "confidentiality_accepted_at"]


class AcceptSerializer(serializers.Serializer):
    confidentiality = serializers.BooleanField(help_text=gettext_lazy("Acceptance of the confidentiality terms (must "
                                                                      "be true)"))


class DeclineSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=Offer.DeclineReason.choices)
    note = serializers.CharField(required=False, allow_blank=True, default="")


class ConditionSerializer(serializers.ModelSerializer):
    state = serializers.CharField(read_only=True)

    class Meta:
        model = ReportCondition
        fields = ["id", "number", "text", "state", "resolved_at", "resolution", "accepted_at", "auditor_note"]
        read_only_fields = fields


class IssueSerializer(serializers.Serializer):
    title = serializers.CharField()
    severity = serializers.ChoiceField(choices=AuditReport.Severity.choices)
    description = serializers.CharField(required=False, allow_blank=True)


class ReproducedSerializer(serializers.Serializer):
    benchmark = serializers.CharField()
    metric = serializers.CharField(required=False, allow_blank=True)
    reported = serializers.CharField(required=False, allow_blank=True)
    reproduced = serializers.CharField(required=False, allow_blank=True)
    notes = serializers.CharField(required=False, allow_blank=True)


class ReportSerializer(serializers.ModelSerializer):
    issues = IssueSerializer(many=True, required=False)
    reproduced_results = ReproducedSerializer(many=True, required=False)
    conditions = serializers.ListField(child=serializers.CharField(), required=False, write_only=True,
                                       help_text=gettext_lazy("The conditions of a pass with conditions, one string "
                                                              "each"))
    condition_list = ConditionSerializer(source="conditions", many=True, read_only=True)
    recommendation = serializers.ChoiceField(choices=AuditReport.Recommendation.choices, required=False,
                                             allow_blank=True)

    class Meta:
        model = AuditReport
        fields = ["scope", "methods", "reproduced_results", "issues", "recommendation", "conditions",
                  "condition_list", "signed_file_name", "signed_file_sha256", "updated_at", "filed_at", "sha256"]
        read_only_fields = ["signed_file_name", "signed_file_sha256", "updated_at", "filed_at", "sha256"]


class EngagementSerializer(serializers.ModelSerializer):
    auditor = serializers.CharField(source="accreditation.user.display_name", read_only=True)
    release = serializers.CharField(source="application.release", read_only=True)
    report_filed_at = serializers.DateTimeField(source="report.filed_at", read_only=True, allow_null=True)

    class Meta:
        model = Engagement
        fields = ["id", "application", "accreditation", "auditor", "release", "seat", "status", "accepted_at",
                  "report_due_at", "ended_at", "report_filed_at"]
        read_only_fields = fields


class SubmissionSerializer(serializers.Serializer):
    revision = serializers.IntegerField()
    sha256 = serializers.CharField()
    access_instructions = serializers.CharField()
    content = serializers.DictField()


class ConditionActionSerializer(serializers.Serializer):
    condition = serializers.IntegerField(help_text=gettext_lazy("Id of the condition"))
    text = serializers.CharField(required=False, allow_blank=True, default="",
                                 help_text=gettext_lazy("Resolution (organization) or note (auditor)"))


def _report_input(data) -> tuple[dict, list[str] | None]:
    serializer = ReportSerializer(data=data, partial=True)
    serializer.is_valid(raise_exception=True)
    values = dict(serializer.validated_data)
    conditions = values.pop("conditions", None)
    return values, conditions


# --- viewsets ---------------------------------------------------------------------------------


class AccreditationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                           viewsets.GenericViewSet):
    """Applications to join the network and accreditations: your own, or every one for staff."""

    serializer_class = AccreditationSerializer
    queryset = Accreditation.objects.none()

    def get_queryset(self):
        user = self.request.user
        qs = Accreditation.objects.select_related("user").prefetch_related("affiliations", "files")
        if not user.is_alliance_staff:
            qs = qs.filter(user=user)
        for key in ("role", "status"):
            value = self.request.query_params.get(key)
            if value:
                qs = qs.filter(**{key: value})
        return qs

    @extend_schema(parameters=[OpenApiParameter("role", str), OpenApiParameter("status", str)])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def create(self, request, *args, **kwargs):
        """Apply to join (``role`` auditor or evaluator)."""
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        affiliations = [{**a, "organization": a.pop("organization_id", None)} for a in data.pop("affiliations", [])]
        try:
            acc = auditor_services.apply_to_join(request.user, data.get("role", ""), data, affiliations,
                                                 request=request)
        except WorkflowError as exc:
            _raise(exc)
        return Response(AccreditationSerializer(acc).data, status=status.HTTP_201_CREATED)

    def _do(self, fn, *args, **kwargs):
        acc = self.get_object()
        try:
            fn(acc, self.request.user, *args, request=self.request, **kwargs)
        except WorkflowError as exc:
            _raise(exc)
        acc.refresh_from_db()
        return Response(AccreditationSerializer(acc).data)

    @extend_schema(request=ApproveSerializer, responses=AccreditationSerializer)
    @action(detail=True, methods=["post"])
    @requires_scope("staff")
    def approve(self, request, pk=None, format=None):
        _staff(request)
        serializer = ApproveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._do(auditor_services.approve_accreditation, **serializer.validated_data)

    @extend_schema(request=ReasonSerializer, responses=AccreditationSerializer)
    @action(detail=True, methods=["post"])
    @requires_scope("staff")
    def reject(self, request, pk=None, format=None):
        _staff(request)
        serializer = ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._do(auditor_services.reject_accreditation, serializer.validated_data["reason"])

    @extend_schema(request=ReasonSerializer, responses=AccreditationSerializer)
    @action(detail=True, methods=["post"])
    @requires_scope("staff")
    def suspend(self, request, pk=None, format=None):
        _staff(request)
        serializer = ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._do(auditor_services.suspend_accreditation, serializer.validated_data["reason"])

    @extend_schema(request=None, responses=AccreditationSerializer)
    @action(detail=True, methods=["post"])
    @requires_scope("staff")
    def reinstate(self, request, pk=None, format=None):
        _staff(request)
        return self._do(auditor_services.reinstate_accreditation)

    @extend_schema(request=ListingSerializer, responses=AccreditationSerializer)
    @action(detail=True, methods=["post"])
    def listing(self, request, pk=None, format=None):
        """Opt in or out of the public directory (your own accreditation)."""
        serializer = ListingSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._do(auditor_services.set_listing, serializer.validated_data["listed_publicly"])

    @extend_schema(request=AffiliationSerializer, responses=AffiliationSerializer)
    @action(detail=True, methods=["post"])
    def affiliations(self, request, pk=None, format=None):
        """Declare an affiliation at any time (your own accreditation)."""
        acc = self.get_object()
        serializer = AffiliationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data["organization"] = data.pop("organization_id", None)
        try:
            aff = auditor_services.add_affiliation(acc, request.user, data, request=request)
        except WorkflowError as exc:
            _raise(exc)
        return Response(AffiliationSerializer(aff).data, status=status.HTTP_201_CREATED)

    @extend_schema(request={"multipart/form-data": inline_serializer("SupportingFileUpload", {
        "file": serializers.FileField()})}, responses=SupportingFileSerializer)
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser, FormParser])
    def files(self, request, pk=None, format=None):
        """Add a supporting file to your own pending application."""
        acc = self.get_object()
        if acc.user_id != request.user.pk or acc.status != Accreditation.Status.PENDING:
            raise PermissionDenied(_("Only the applicant adds files, while the application is pending."))
        upload = request.FILES.get("file")
        if upload is None:
            raise ValidationError({"file": [_("Attach the file as multipart field 'file'.")]})
        try:
            stored = auditor_services.store_private_file(upload, "accreditation")
        except evidence.EvidenceError as exc:
            raise ValidationError({"file": [str(exc)]}) from exc
        sf = SupportingFile.objects.create(accreditation=acc, **stored)
        return Response(SupportingFileSerializer(sf).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=DirectoryEntrySerializer(many=True))
    @action(detail=False, methods=["get"], permission_classes=[AllowAny], pagination_class=None)
    def directory(self, request, format=None):
        """The public directory: approved auditors and evaluators who did not opt out."""
        qs = Accreditation.objects.in_directory().select_related("user").order_by("role", "user__name", "pk")
        return Response(DirectoryEntrySerializer(qs, many=True).data)

    @extend_schema(
        parameters=[OpenApiParameter("application", int, required=True)],
        responses=inline_serializer("Suggestion", {
            "application": serializers.IntegerField(), "seats": serializers.IntegerField(),
            "flagged_domains": serializers.ListField(child=serializers.CharField()),
            "open_seats": serializers.IntegerField(),
            "remaining_domains": serializers.ListField(child=serializers.CharField()),
            "engaged": serializers.ListField(child=serializers.DictField()),
            "offered": serializers.ListField(child=serializers.DictField()),
            "ranked": serializers.ListField(child=serializers.DictField()),
            "excluded": serializers.ListField(child=serializers.DictField()),
            "proposal": serializers.ListField(child=serializers.IntegerField()),
            "problem": serializers.CharField(),
        }),
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    @requires_scope("staff")
    def suggestions(self, request, format=None):
        """Eligible auditors ranked with their reasons, the excluded ones with theirs, and a proposal (staff)."""
        _staff(request)
        raw = request.query_params.get("application", "")
        app = (Application.objects.select_related("release__ai_model__organization", "framework_version")
               .filter(pk=int(raw)).first()) if _is_id(raw) else None
        if app is None:
            raise ValidationError({"application": [_("Give the id of an application.")]})
        return Response(assignment_suggestions.suggest(app).to_dict())

    @extend_schema(request=BatchRequestSerializer, responses=inline_serializer("BatchProposal", {
        "assignments": serializers.ListField(child=serializers.DictField()),
        "unservable": serializers.ListField(child=serializers.DictField()),
        "max_load_ratio": serializers.FloatField(),
        "loads": serializers.ListField(child=serializers.DictField()),
    }))
    @action(detail=False, methods=["post"], url_path="batch-proposal", pagination_class=None)
    @requires_scope("staff")
    def batch_proposal(self, request, format=None):
        """A batch proposal (staff); nothing is sent: create the offers after review."""
        _staff(request)
        serializer = BatchRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        qs = Application.objects.filter(status=Application.Status.IN_REVIEW, tier__gte=3).select_related(
            "release__ai_model__organization", "framework_version")
        if serializer.validated_data.get("applications"):
            qs = qs.filter(pk__in=serializer.validated_data["applications"])
        return Response(assignment_batch.propose_batch(list(qs[:1000])).to_dict())

    @extend_schema(request=OverrideSerializer, responses=inline_serializer("Override", {
        "id": serializers.IntegerField(), "code": serializers.CharField(), "reason": serializers.CharField()}))
    @action(detail=False, methods=["post"], url_path="override-conflict")
    @requires_scope("staff")
    def override_conflict(self, request, format=None):
        """Override a potential conflict with a recorded reason (staff); hard conflicts are refused."""
        _staff(request)
        serializer = OverrideSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        app = Application.objects.select_related("release__ai_model__organization").filter(
            pk=data["application"]).first()
        acc = Accreditation.objects.filter(pk=data["accreditation"]).first()
        if app is None or acc is None:
            raise Http404
        try:
            record = assignment_offers.override_conflict(app, acc, request.user, data["code"], data["reason"],
                                                         request=request)
        except WorkflowError as exc:
            _raise(exc)
        return Response({"id": record.pk, "code": record.code, "reason": record.reason},
                        status=status.HTTP_201_CREATED)


class OfferViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                   viewsets.GenericViewSet):
    """Your offers (all of them for staff); staff create offers."""

    serializer_class = OfferSerializer
    queryset = Offer.objects.none()

    def get_queryset(self):
        qs = Offer.objects.visible_to(self.request.user).select_related(
            "accreditation__user", "application__release__ai_model__organization")
        value = self.request.query_params.get("status")
        return qs.filter(status=value) if value else qs

    @extend_schema(parameters=[OpenApiParameter("status", str)])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @requires_scope("staff")
    def create(self, request, *args, **kwargs):
        """Send an offer (staff)."""
        _staff(request)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            offer = assignment_offers.send_offer(serializer.validated_data["application"],
                                        serializer.validated_data["accreditation"], request.user, request=request)
        except WorkflowError as exc:
            _raise(exc)
        return Response(OfferSerializer(offer).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=AcceptSerializer, responses=EngagementSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None, format=None):
        offer = self.get_object()
        serializer = AcceptSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            engagement = assignment_offers.accept_offer(offer, request.user,
                                               confidentiality=serializer.validated_data["confidentiality"],
                                               request=request)
        except WorkflowError as exc:
            _raise(exc)
        return Response(EngagementSerializer(engagement).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=DeclineSerializer, responses=OfferSerializer)
    @action(detail=True, methods=["post"])
    def decline(self, request, pk=None, format=None):
        offer = self.get_object()
        serializer = DeclineSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            assignment_offers.decline_offer(offer, request.user, serializer.validated_data["reason"],
                                   serializer.validated_data["note"], request=request)
        except WorkflowError as exc:
            _raise(exc)
        offer.refresh_from_db()
        return Response(OfferSerializer(offer).data)

    @extend_schema(request=None, responses=OfferSerializer)
    @action(detail=True, methods=["post"])
    @requires_scope("staff")
    def withdraw(self, request, pk=None, format=None):
        _staff(request)
        offer = self.get_object()
        try:
            assignment_offers.withdraw_offer(offer, request.user, request=request)
        except WorkflowError as exc:
            _raise(exc)
        offer.refresh_from_db()
        return Response(OfferSerializer(offer).data)


class EngagementViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Your engagements (auditors), your applications' (organizations), every one (staff)."""

    serializer_class = EngagementSerializer
    queryset = Engagement.objects.none()

    def get_queryset(self):
        return Engagement.objects.visible_to(self.request.user).select_related(
            "accreditation__user", "application__release__ai_model", "report")

    def _mine(self, engagement) -> None:
        if not access.is_engaged_auditor(self.request.user, engagement):
            raise Http404

    @extend_schema(responses=SubmissionSerializer)
    @action(detail=True, methods=["get"])
    def submission(self, request, pk=None, format=None):
        """The frozen submission and the model-access instructions, only while engaged."""
        engagement = access.get_submission_engagement(request.user, int(pk) if _is_id(str(pk)) else 0)
        revision = engagement.application.revisions.order_by("-number").first()
        if revision is None:
            raise Http404
        content = revision.content
        return Response({"revision": revision.number, "sha256": revision.sha256, "content": content,
                         "access_instructions": (content.get("sections", {}).get("access_instructions") or {}).get(
                             "instructions", "")})

    @extend_schema(request=ReportSerializer, responses=ReportSerializer)
    @action(detail=True, methods=["get", "put"])
    def report(self, request, pk=None, format=None):
        """Read the report (staff, the auditor, the applicant once filed); PUT saves the auditor's draft."""
        engagement = access.get_report_engagement(request.user, int(pk) if _is_id(str(pk)) else 0)
        if request.method == "GET":
            report = AuditReport.objects.get_or_create(engagement=engagement)[0]
            return Response(ReportSerializer(report).data)
        data, conditions = _report_input(request.data)
        try:
            report = reports.save_report_draft(engagement, request.user, data, conditions, request=request)
        except WorkflowError as exc:
            _raise(exc)
        return Response(ReportSerializer(report).data)

    @extend_schema(request={"multipart/form-data": inline_serializer("ReportFiling", {
        "signed_file": serializers.FileField(help_text=gettext_lazy("The signed report, PDF")),
        "report": serializers.JSONField(required=False,
                                        help_text=gettext_lazy("Report fields as JSON, as in PUT report")),
    })}, responses=ReportSerializer)
    @action(detail=True, methods=["post"], url_path="file-report",
            parser_classes=[MultiPartParser, FormParser, JSONParser])
    def file_report(self, request, pk=None, format=None):
        """File the report with its signed PDF; it is locked afterwards."""
        engagement = self.get_object()
        self._mine(engagement)
        raw = request.data.get("report")
        if isinstance(raw, str) and raw:
            try:
                raw = load_json(raw, max_bytes=max_body_bytes())
            except ParseError as exc:
                raise ValidationError({"report": [str(exc)]}) from exc
        data, conditions = _report_input(raw or {})
        try:
            report = reports.file_report(engagement, request.user, data, conditions,
                                          signed_file=request.FILES.get("signed_file"), request=request)
        except WorkflowError as exc:
            _raise(exc)
        return Response(ReportSerializer(report).data)

    @extend_schema(request=ReasonSerializer, responses=EngagementSerializer)
    @action(detail=True, methods=["post"])
    @requires_scope("staff")
    def reassign(self, request, pk=None, format=None):
        _staff(request)
        engagement = self.get_object()
        serializer = ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            assignment_offers.reassign(engagement, request.user, serializer.validated_data["reason"], request=request)
        except WorkflowError as exc:
            _raise(exc)
        engagement.refresh_from_db()
        return Response(EngagementSerializer(engagement).data)

    @extend_schema(request=ReasonSerializer, responses=EngagementSerializer)
    @action(detail=True, methods=["post"], url_path="declare-conflict")
    def declare_conflict(self, request, pk=None, format=None):
        engagement = self.get_object()
        self._mine(engagement)
        serializer = ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            assignment_offers.declare_conflict(engagement.application, engagement.accreditation, request.user,
                                      serializer.validated_data["reason"], request=request)
        except WorkflowError as exc:
            _raise(exc)
        return Response(EngagementSerializer(engagement).data)

    def _condition(self, engagement, condition_id: int) -> ReportCondition:
        condition = ReportCondition.objects.filter(pk=condition_id, report__engagement=engagement,
                                                   report__filed_at__isnull=False).first()
        if condition is None:
            raise Http404
        return condition

    def _condition_action(self, fn):
        engagement = self.get_object()
        serializer = ConditionActionSerializer(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        condition = self._condition(engagement, serializer.validated_data["condition"])
        try:
            fn(condition, self.request.user, serializer.validated_data["text"], request=self.request)
        except WorkflowError as exc:
            _raise(exc)
        condition.refresh_from_db()
        return Response(ConditionSerializer(condition).data)

    @extend_schema(request=ConditionActionSerializer, responses=ConditionSerializer)
    @action(detail=True, methods=["post"], url_path="resolve-condition")
    def resolve_condition(self, request, pk=None, format=None):
        """The organization marks a condition resolved (``text``: how)."""
        return self._condition_action(reports.resolve_condition)

    @extend_schema(request=ConditionActionSerializer, responses=ConditionSerializer)
    @action(detail=True, methods=["post"], url_path="accept-condition")
    def accept_condition(self, request, pk=None, format=None):
        """The auditor accepts a resolved condition."""
        return self._condition_action(reports.accept_condition)

    @extend_schema(request=ConditionActionSerializer, responses=ConditionSerializer)
    @action(detail=True, methods=["post"], url_path="return-condition")
    def return_condition(self, request, pk=None, format=None):
        """The auditor returns a resolved condition (``text``: what is missing)."""
        return self._condition_action(reports.return_condition)


# The API root lives in portal.api: no second root view here.
router = SimpleRouter()
router.register("auditors", AccreditationViewSet, basename="auditor")
router.register("offers", OfferViewSet, basename="offer")
router.register("engagements", EngagementViewSet, basename="engagement")
urlpatterns = router.urls

__all__ = ["urlpatterns"]
