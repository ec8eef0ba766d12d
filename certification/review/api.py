"""Authenticated API of the community review (DESIGN §6, §7.1 last line), mounted at
``/api/v1/review/``: the same service functions and access rules as the pages.
Windows are for vetted evaluators and staff only (404 for everyone else); refused
actions are 400 with the reason under the field concerned.

Choice fields are documented as strings with their allowed values in the help
text, so their enums do not collide with other components named alike."""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.views import APIView

from auditors.models import Accreditation
from certification.framework import services
from certification.releases import evidence
from certification.releases.models import Release
from certification.review import findings as review_findings
from certification.review import services as review_services
from certification.review.models import Finding, FindingResponse, ReviewWindow
from portal.api_auth import requires_scope
from portal.parsers import JSONParser
from portal.validators import plain_text

MAX_ID = 2**63 - 1  # the largest BIGINT


def _raise(exc: services.WorkflowError):
    raise ValidationError(exc.errors) from exc


def _values(choices) -> str:
    return ", ".join(str(v) for v in choices.values)


# --- serializers ---------------------------------------------------------------------------------


class ReviewWindowSerializer(serializers.ModelSerializer):
    application = serializers.IntegerField(source="application_id", read_only=True)
    organization = serializers.CharField(source="application.release.ai_model.organization.name", read_only=True)
    model = serializers.CharField(source="application.release.ai_model.name", read_only=True)
    release = serializers.CharField(source="application.release.version", read_only=True)
    is_open = serializers.SerializerMethodField()
    enrolled = serializers.SerializerMethodField()
    has_access = serializers.SerializerMethodField()
    access_instructions = serializers.SerializerMethodField(
        help_text=gettext_lazy("The organization's model-access instructions; null unless you are enrolled, with an "
                               "active accreditation, and the window is open."))

    class Meta:
        model = ReviewWindow
        fields = ["id", "application", "organization", "model", "release", "tier", "first_opened_at", "opened_at",
                  "closes_at", "is_open", "enrolled", "has_access", "access_instructions"]
        read_only_fields = fields

    def _user(self):
        return self.context["request"].user

    def get_is_open(self, window) -> bool:
        return window.is_open()

    def get_enrolled(self, window) -> bool:
        return review_services.current_enrolment(self._user(), window) is not None

    def get_has_access(self, window) -> bool:
        return review_services.has_access(self._user(), window)

    def get_access_instructions(self, window) -> str | None:
        if not review_services.has_access(self._user(), window):
            return None
        return review_services.materials(window).access_instructions


class ReviewMaterialsSerializer(serializers.Serializer):
    revision = serializers.IntegerField(allow_null=True)
    sha256 = serializers.CharField(allow_null=True)
    access_instructions = serializers.CharField()
    sections = serializers.DictField()
    benchmark_results = serializers.ListField(child=serializers.DictField())
    evidence = serializers.ListField(child=serializers.DictField(),
                                     help_text=gettext_lazy("Evidence files; download through download_url while "
                                                            "access lasts."))


class ReviewEnrolSerializer(serializers.Serializer):
    confidentiality = serializers.BooleanField(help_text=gettext_lazy("Acceptance of the confidentiality terms; must "
                                                                      "be true."))


class EvaluatorConflictOverrideSerializer(serializers.Serializer):
    evaluator = serializers.EmailField()
    code = serializers.CharField(help_text=gettext_lazy("A potential conflict code: recent_affiliation, "
                                                        "shared_email_domain, audited_last_three_releases."))
    reason = serializers.CharField()


class FindingAttachmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    display_name = serializers.CharField()
    family = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    download_url = serializers.CharField()


class FindingResponseSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text=f"One of {_values(FindingResponse.Kind)}.")
    details = serializers.CharField()
    fixed_in = serializers.CharField()
    responded_at = serializers.DateTimeField()


class FindingRejoinderSerializer(serializers.Serializer):
    text = serializers.CharField()
    created_at = serializers.DateTimeField()


class FindingSerializer(serializers.ModelSerializer):
    """A finding as its reader may see it: the author's identity only for staff and the author."""

    status = serializers.CharField(read_only=True, help_text=f"One of {_values(Finding.Status)}.")
    category = serializers.CharField(help_text=f"One of {_values(Finding.Category)}.")
    severity = serializers.CharField(help_text=f"One of {_values(Finding.Severity)}.")
    prevalence = serializers.CharField(required=False, help_text=f"One of {_values(Finding.Prevalence)}.")
    submitted_severity = serializers.CharField(read_only=True)
    atlas_techniques = serializers.ListField(child=serializers.CharField(), required=False,
                                             help_text=gettext_lazy("MITRE ATLAS technique ids, like AML.T0051."))
    author = serializers.SerializerMethodField()
    attachments = serializers.SerializerMethodField()
    response = serializers.SerializerMethodField()
    rejoinder = serializers.SerializerMethodField()

    class Meta:
        model = Finding
        fields = ["id", "window", "status", "title", "category", "severity", "prevalence", "affected_capability",
                  "reproduction_steps", "expected_behaviour", "observed_behaviour", "infohazard", "atlas_techniques",
                  "author", "created_at", "submitted_at", "submitted_severity", "severity_reason", "triaged_at",
                  "triage_note", "duplicate_of", "attachments", "response", "rejoinder"]
        read_only_fields = ["id", "status", "author", "created_at", "submitted_at", "submitted_severity",
                            "severity_reason", "triaged_at", "triage_note", "duplicate_of"]
        extra_kwargs = {"window": {"queryset": ReviewWindow.objects.none()}}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        # Only people who may see windows can name one: others learn nothing from the error.
        if request is not None and review_services.can_see_windows(request.user):
            self.fields["window"].queryset = ReviewWindow.objects.all()

    def get_author(self, finding) -> str | None:
        user = self.context["request"].user
        if user.is_alliance_staff or finding.author_id == user.pk:
            return finding.author.display_name
        return None

    @extend_schema_field(FindingAttachmentSerializer(many=True))
    def get_attachments(self, finding) -> list[dict]:
        return [{"id": a.pk, "display_name": a.display_name, "family": a.family, "size": a.size, "sha256": a.sha256,
                 "download_url": reverse("certification:finding-attachment", args=[a.pk])}
                for a in finding.attachments.all()]

    @extend_schema_field(FindingResponseSerializer(allow_null=True))
    def get_response(self, finding) -> dict | None:
        r = _related(finding, "response")
        return {"kind": r.kind, "details": r.details, "fixed_in": r.fixed_in,
                "responded_at": r.responded_at} if r else None

    @extend_schema_field(FindingRejoinderSerializer(allow_null=True))
    def get_rejoinder(self, finding) -> dict | None:
        r = _related(finding, "rejoinder")
        return {"text": r.text, "created_at": r.created_at} if r else None


class FindingTriageSerializer(serializers.Serializer):
    outcome = serializers.CharField(help_text=gettext_lazy("accepted, duplicate, out_of_scope or invalid."))
    note = serializers.CharField(required=False, allow_blank=True, help_text=gettext_lazy("Required unless accepted."))
    severity = serializers.CharField(required=False, allow_blank=True,
                                     help_text=f"A new severity ({_values(Finding.Severity)}); needs severity_reason.")
    severity_reason = serializers.CharField(required=False, allow_blank=True)
    duplicate_of = serializers.IntegerField(required=False, allow_null=True,
                                            help_text=gettext_lazy("The finding this one duplicates (outcome "
                                                                   "duplicate)."))


class FindingResponseInputSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text=gettext_lazy("mitigated (what changed, fixed_in required), accepted_risk "
                                                        "(rationale) or disputed (reason)."))
    details = serializers.CharField(allow_blank=True)
    fixed_in = serializers.CharField(required=False, allow_blank=True, validators=[plain_text],
                                     help_text=gettext_lazy("The release with the change (mitigated)."))


class FindingRejoinderInputSerializer(serializers.Serializer):
    text = serializers.CharField()


class PublicFindingSerializer(serializers.Serializer):
    """An accepted finding of a certified release. Infohazard findings carry only the
    title, category, severity and response (``redacted`` true, other fields absent)."""

    id = serializers.IntegerField()
    title = serializers.CharField()
    category = serializers.CharField()
    severity = serializers.CharField()
    infohazard = serializers.BooleanField()
    redacted = serializers.BooleanField()
    response = FindingResponseSerializer(allow_null=True)
    prevalence = serializers.CharField(required=False)
    affected_capability = serializers.CharField(required=False)
    reproduction_steps = serializers.CharField(required=False)
    expected_behaviour = serializers.CharField(required=False)
    observed_behaviour = serializers.CharField(required=False)
    atlas_techniques = serializers.ListField(child=serializers.CharField(), required=False)
    submitted_at = serializers.DateTimeField(required=False)
    rejoinder = FindingRejoinderSerializer(required=False, allow_null=True)


def _related(finding, name: str):
    """A reverse one-to-one row, or None when there is none."""
    try:
        return getattr(finding, name)
    except ObjectDoesNotExist:
        return None


def public_finding_data(row: dict) -> dict:
    """The public view without the template-only labels."""
    data = {k: v for k, v in row.items() if not k.endswith("_label")}
    if data.get("response"):
        data["response"] = {k: v for k, v in data["response"].items() if not k.endswith("_label")}
    return data


# --- viewsets ------------------------------------------------------------------------------------


class WindowViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Open community review windows (vetted evaluators and staff; 404 for everyone else)."""

    serializer_class = ReviewWindowSerializer
    queryset = ReviewWindow.objects.none()

    def get_queryset(self):
        if not review_services.can_see_windows(self.request.user):
            raise Http404
        qs = ReviewWindow.objects.select_related("application__release__ai_model__organization",
                                                 "application__framework_version")
        if self.action == "list":
            qs = qs.open_at().order_by("closes_at", "pk")
        return qs

    def _window(self) -> ReviewWindow:
        return self.get_object()

    @extend_schema(request=ReviewEnrolSerializer, responses=ReviewWindowSerializer)
    @action(detail=True, methods=["post"])
    def enrol(self, request, pk=None):
        """Enrol; refused with the conflicts' reasons (and their codes under ``conflicts``)."""
        window = self._window()
        serializer = ReviewEnrolSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            review_services.enrol(window, request.user, confidentiality=serializer.validated_data["confidentiality"],
                         request=request)
        except services.WorkflowError as exc:
            _raise(exc)
        return Response(ReviewWindowSerializer(window, context={"request": request}).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=ReviewWindowSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        window = self._window()
        try:
            review_services.withdraw_enrolment(window, request.user, request=request)
        except services.WorkflowError as exc:
            _raise(exc)
        return Response(ReviewWindowSerializer(window, context={"request": request}).data)

    @extend_schema(responses=ReviewMaterialsSerializer)
    @action(detail=True, methods=["get"])
    def materials(self, request, pk=None):
        """The frozen submission and access instructions: enrolled evaluators while the window is open, staff."""
        window = self._window()
        if not (request.user.is_alliance_staff or review_services.has_access(request.user, window)):
            raise Http404
        m = review_services.materials(window)
        evidence_rows = [{**e, "download_url": reverse("certification:evidence-download", args=[e["id"]])}
                         for e in m.evidence]
        return Response({"revision": m.revision.number if m.revision else None,
                         "sha256": m.revision.sha256 if m.revision else None,
                         "access_instructions": m.access_instructions, "sections": m.sections,
                         "benchmark_results": m.benchmark_results, "evidence": evidence_rows})

    @extend_schema(request=EvaluatorConflictOverrideSerializer, responses=inline_serializer(
        "EvaluatorConflictOverride", {"code": serializers.CharField(), "reason": serializers.CharField()}))
    @action(detail=True, methods=["post"], url_path="override-conflict")
    @requires_scope("staff")
    def override_conflict(self, request, pk=None):
        """Staff lift an evaluator's potential conflict with a recorded reason."""
        window = self._window()
        if not request.user.is_alliance_staff:
            raise Http404
        serializer = EvaluatorConflictOverrideSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        acc = Accreditation.objects.evaluators().filter(user__email__iexact=data["evaluator"]).first()
        if acc is None:
            raise ValidationError({"evaluator": [_("No evaluator has this email address.")]})
        try:
            record = review_services.override_conflict(window, acc, request.user, data["code"], data["reason"],
                                                       request=request)
        except services.WorkflowError as exc:
            _raise(exc)
        return Response({"code": record.code, "reason": record.reason}, status=status.HTTP_201_CREATED)


class FindingViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                     mixins.UpdateModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Findings you may read: your own, your organization's submitted ones, all submitted ones for staff.
    Evaluators never see each other's findings here; public ones are under ``releases/<id>/findings/``."""

    serializer_class = FindingSerializer
    queryset = Finding.objects.none()
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    @extend_schema(parameters=[
        OpenApiParameter("window", int, description=gettext_lazy("Only the findings of this window")),
        OpenApiParameter("application", int, description=gettext_lazy("Only the findings of this application")),
    ])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        qs = review_findings.with_details(review_findings.findings_visible_to(self.request.user)).order_by("pk")
        params = self.request.query_params
        for name, field in (("window", "window_id"), ("application", "window__application_id")):
            if params.get(name):
                value = params[name]
                # ASCII digits within the database's integers: a larger number would reach SQL and fail there.
                if not (value.isascii() and value.isdigit() and int(value) <= MAX_ID):
                    raise ValidationError({name: [_("An integer id.")]})
                qs = qs.filter(**{field: int(value)})
        return qs

    def _data(self, finding):
        finding = review_findings.with_details(Finding.objects.filter(pk=finding.pk)).get()
        return FindingSerializer(finding, context={"request": self.request}).data

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        window = data.pop("window")
        if not review_services.can_see_windows(self.request.user):
            raise Http404
        try:
            serializer.instance = review_findings.create_finding(window, self.request.user, data, request=self.request)
        except services.WorkflowError as exc:
            _raise(exc)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("window", None)
        try:
            serializer.instance = review_findings.update_draft(serializer.instance, self.request.user, data,
                                                      request=self.request)
        except services.WorkflowError as exc:
            _raise(exc)

    def update(self, request, *args, **kwargs):
        kwargs["partial"] = True
        response = super().update(request, *args, **kwargs)
        response.data = self._data(self.get_object())
        return response

    @extend_schema(responses={204: None})
    def destroy(self, request, *args, **kwargs):
        """Delete your own draft (as the page does); a submitted finding is final."""
        finding = self.get_object()
        try:
            review_findings.delete_draft(finding, request.user, request=request)
        except services.WorkflowError as exc:
            _raise(exc)
        return Response(status=204)

    def _act(self, fn, *args, **kwargs):
        finding = self.get_object()
        try:
            fn(finding, self.request.user, *args, request=self.request, **kwargs)
        except services.WorkflowError as exc:
            _raise(exc)
        return Response(self._data(finding))

    @extend_schema(request=None, responses=FindingSerializer)
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        """Submit a draft (the author, while the window is open): final from now on."""
        return self._act(review_findings.submit_finding)

    @extend_schema(
        request={"multipart/form-data": inline_serializer("FindingAttachmentUpload", {"file": serializers.FileField()})},
        responses=FindingAttachmentSerializer,
    )
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser, FormParser, JSONParser])
    def attachments(self, request, pk=None):
        """Attach a file to your draft, under the evidence rules."""
        finding = self.get_object()
        upload = request.FILES.get("file")
        if getattr(request._request, "upload_too_large", False):
            raise ValidationError({"file": [_("The file is larger than the limit.")]})
        if upload is None:
            raise ValidationError({"file": [_("Attach the file as multipart field 'file'.")]})
        try:
            a = review_findings.add_attachment(finding, request.user, upload, request=request)
        except services.WorkflowError as exc:
            _raise(exc)
        return Response({"id": a.pk, "display_name": a.display_name, "family": a.family, "size": a.size,
                         "sha256": a.sha256, "download_url": reverse("certification:finding-attachment", args=[a.pk])},
                        status=status.HTTP_201_CREATED)

    def initialize_request(self, request, *args, **kwargs):
        request.upload_handlers.insert(0, evidence.SizeLimitUploadHandler(request))
        return super().initialize_request(request, *args, **kwargs)

    @extend_schema(request=FindingTriageSerializer, responses=FindingSerializer)
    @action(detail=True, methods=["post"])
    @requires_scope("staff")
    def triage(self, request, pk=None):
        """Staff triage: accepted, duplicate, out_of_scope or invalid, with a note; severity change with a reason."""
        serializer = FindingTriageSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        duplicate = None
        if data.get("duplicate_of"):
            duplicate = review_findings.findings_visible_to(request.user).filter(pk=data["duplicate_of"]).first()
            if duplicate is None:
                raise ValidationError({"duplicate_of": [_("No such finding.")]})
        return self._act(review_findings.triage, data["outcome"], data.get("note", ""),
                         severity=data.get("severity") or None,
                         severity_reason=data.get("severity_reason", ""), duplicate_of=duplicate)

    @extend_schema(request=FindingResponseInputSerializer, responses=FindingSerializer)
    @action(detail=True, methods=["post"])
    def respond(self, request, pk=None):
        """The organization's public response to an accepted finding (organization admins)."""
        serializer = FindingResponseInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        return self._act(review_findings.respond, data["kind"], data["details"], data.get("fixed_in", ""))

    @extend_schema(request=FindingRejoinderInputSerializer, responses=FindingSerializer)
    @action(detail=True, methods=["post"])
    def rejoinder(self, request, pk=None):
        """The author's rejoinder to the organization's response (once)."""
        serializer = FindingRejoinderInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._act(review_findings.add_rejoinder, serializer.validated_data["text"])


class PublicFindingsView(APIView):
    """Public: accepted findings and responses of a certified release, infohazards redacted (DESIGN §6)."""

    permission_classes = [permissions.AllowAny]

    @extend_schema(responses=inline_serializer("PublicFindings", {
        "release": serializers.IntegerField(), "certificate": serializers.CharField(allow_null=True),
        "findings": PublicFindingSerializer(many=True)}))
    def get(self, request, pk: int):
        release = get_object_or_404(Release, pk=pk)
        app = review_findings.certified_application(release)
        if app is None:
            raise Http404
        cert = getattr(app, "certificate", None)
        return Response({"release": release.pk, "certificate": cert.number if cert else None,
                         "findings": [public_finding_data(row) for row in review_findings.public_findings(app)]})


router = SimpleRouter()
router.register("windows", WindowViewSet, basename="window")
router.register("findings", FindingViewSet, basename="finding")
urlpatterns = [
    *router.urls,
    path("releases/<int:pk>/findings/", PublicFindingsView.as_view(), name="public-findings"),
]
