"""Public JSON API of the certification app (DESIGN §7.1): anonymous, throttled,
stable. Mounted under /api/v1/ by portal/urls.py.

``POST /api/v1/classify/`` runs the same classifier as the "Which tier is my
model?" page, under the version in force. Validation is the classifier's, not
a serializer's: DRF's IntegerField would take "7" or 7.0 as a parameter count,
which §2.1 calls an input error. The serializers below document the contract
in the OpenAPI schema.

``/api/v1/framework-versions/`` is the staff side (authenticated, ``staff`` token
scope): the staff framework pages' services, their forms' validation.
"""

from __future__ import annotations

import datetime as dt
import json

from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from certification.framework import changes, services, texts, tiers
from certification.framework import rules as framework_rules
from certification.framework.forms import FrameworkPublishForm, FrameworkRulesForm, FrameworkVersionCreateForm
from certification.framework.labels import localized_errors
from certification.framework.models import FrameworkVersion
from portal.api_staff import StaffAPIMixin, form_error
from portal.parsers import JSONParser

app_name = "public-api"


class ClassifyRateThrottle(SimpleRateThrottle):
    """Per client address, rate from DEFAULT_THROTTLE_RATES["classify"].

    The rate is read per request (not once at import like DRF's class attribute)
    so a settings change, in tests or by the environment, takes effect."""

    scope = "classify"

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class ClassifyRequestSerializer(serializers.Serializer):
    parameter_count = serializers.IntegerField(
        min_value=1, max_value=10**15, help_text=gettext_lazy("Total parameters, a JSON integer (not a string, float "
                                                              "or boolean).")
    )
    capabilities = serializers.ListField(
        child=serializers.CharField(), required=False, default=list,
        help_text=gettext_lazy("Subset of the version's capabilities (2025.1: advanced_reasoning, code_generation, "
                               "multimodal)."),
    )
    sensitive_domains = serializers.ListField(
        child=serializers.CharField(), required=False, default=list,
        help_text=gettext_lazy("Subset of the version's sensitive domains (2025.1: biology, cybersecurity)."),
    )
    emergent_capabilities = serializers.BooleanField(required=False, default=False)
    emergent_description = serializers.CharField(
        required=False, allow_blank=True, help_text=gettext_lazy("Required when emergent_capabilities is true.")
    )


class FiredRuleSerializer(serializers.Serializer):
    id = serializers.CharField(help_text=gettext_lazy("Rule id, e.g. params_gt_70b or capability:code_generation."))
    tier = serializers.IntegerField()
    text = serializers.CharField()


class RequirementSerializer(serializers.Serializer):
    id = serializers.CharField()
    kind = serializers.ChoiceField(choices=["documentation", "process"])
    title = serializers.CharField()
    description = serializers.CharField()
    detail = serializers.CharField(allow_null=True, help_text=gettext_lazy("Tier-specific detail, e.g. '2 auditors; "
                                                                           "...'."))


class ClassifyResponseSerializer(serializers.Serializer):
    tier = serializers.IntegerField(min_value=1, max_value=4, help_text=gettext_lazy("The highest tier among the fired "
                                                                                     "rules."))
    rules = FiredRuleSerializer(many=True, help_text=gettext_lazy("Every rule that fired, highest tier first."))
    framework_version = serializers.CharField(help_text=gettext_lazy("The framework version in force, e.g. 2025.1."))
    requirements = RequirementSerializer(many=True)
    auditors_required = serializers.IntegerField(help_text=gettext_lazy("0 for Tier 1 and 2."))
    community_review_days = serializers.IntegerField(allow_null=True, help_text=gettext_lazy("null for Tier 1 and 2."))


_list_of_messages = serializers.ListField(child=serializers.CharField(), required=False)

ClassifyErrorSerializer = inline_serializer(
    "ClassifyFieldErrors",
    fields={
        "parameter_count": _list_of_messages,
        "capabilities": _list_of_messages,
        "sensitive_domains": _list_of_messages,
        "emergent_capabilities": _list_of_messages,
        "emergent_description": _list_of_messages,
        "non_field_errors": _list_of_messages,
    },
)
DetailSerializer = inline_serializer("ClassifyDetail", fields={"detail": serializers.CharField()})


class ClassifyView(APIView):
    """Which tier is my model? (DESIGN §2.1, §7.1)"""

    # Anonymous and stateless: no session, so no CSRF token is needed.
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ClassifyRateThrottle]
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="classify",
        summary=gettext_lazy("Classify a model release into a risk tier"),
        description=(
            "Applies the rule table of the framework version in force. Every rule that fires is "
            "reported; the tier is the highest one fired. Unknown fields, unknown capability or "
            "domain names, a missing, non-integer or out-of-range parameter count, and emergent "
            "capabilities without a description are 400 errors keyed by field. Anonymous, "
            "rate-limited per client."
        ),
        request=ClassifyRequestSerializer,
        responses={
            200: ClassifyResponseSerializer,
            400: OpenApiResponse(ClassifyErrorSerializer, description=gettext_lazy("Input errors, keyed by field.")),
            429: OpenApiResponse(DetailSerializer, description=gettext_lazy("Too many requests; retry after the "
                                                                            "Retry-After header.")),
            503: OpenApiResponse(DetailSerializer, description=gettext_lazy("No framework version is in force.")),
        },
        examples=[
            OpenApiExample(
                "Tier 3 by capability",
                request_only=True,
                value={
                    "parameter_count": 7_000_000_000,
                    "capabilities": ["code_generation"],
                    "sensitive_domains": [],
                    "emergent_capabilities": False,
                    "emergent_description": "",
                },
            )
        ],
        auth=[],
        tags=["public"],
    )
    def post(self, request):
        body = request.data
        if not isinstance(body, dict):
            return Response(
                {"non_field_errors": [_("Send a JSON object with the fields %(fields)s.") % {
                    "fields": ", ".join(tiers.FIELDS)}]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        # A misspelt field must not silently classify lower than it should.
        unknown = sorted(set(body) - set(tiers.FIELDS))
        errors = {
            name: [_("Unknown field; allowed fields: %(fields)s.") % {"fields": ", ".join(tiers.FIELDS)}]
            for name in unknown
        }
        try:
            fv = services.version_in_force()
        except services.WorkflowError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        try:
            result = tiers.classify({k: v for k, v in body.items() if k in tiers.FIELDS}, fv.rules)
        except tiers.ClassificationError as exc:
            errors.update(localized_errors(exc.errors))
        if errors:
            return Response(errors, status=status.HTTP_400_BAD_REQUEST)
        return Response(result.to_api())


# --- staff: framework versions ----------------------------------------------------------------------


class FrameworkVersionSerializer(serializers.ModelSerializer):
    # Plain text in the schema: an enum named "Status" would collide with the applications' one.
    status = serializers.CharField(read_only=True, help_text=gettext_lazy("draft or published"))
    published_by = serializers.SerializerMethodField()
    in_force = serializers.SerializerMethodField()

    class Meta:
        model = FrameworkVersion
        fields = ["version", "status", "effective_from", "digest", "created_at", "published_at", "published_by",
                  "in_force"]
        read_only_fields = fields

    def get_published_by(self, fv) -> str | None:
        return fv.published_by.email if fv.published_by else None

    def get_in_force(self, fv) -> bool:
        return fv.pk == self.context.get("in_force_pk")


class ChangeSectionSerializer(serializers.Serializer):
    id = serializers.CharField(help_text=gettext_lazy("tiers, classification, requirements, statements, deadlines, "
                                                      "benchmarks or settings"))
    title = serializers.CharField()
    items = serializers.ListField(child=serializers.CharField(), help_text=gettext_lazy("One sentence per change"))


class FrameworkVersionDetailSerializer(FrameworkVersionSerializer):
    rules = serializers.JSONField(read_only=True, help_text=gettext_lazy("Every rule, number and text of the version"))
    review_by = serializers.SerializerMethodField(
        help_text=gettext_lazy("Effective date plus 12 months (from the data)"))
    changes_from = serializers.SerializerMethodField(
        help_text=gettext_lazy("The version compared with: the one before it, or for a draft the latest published"))
    changes = serializers.SerializerMethodField(help_text=gettext_lazy("What changes from changes_from, in words (the "
                                                                       "page /framework/{version}/changes/)"))
    missing_translations = serializers.SerializerMethodField(
        help_text=gettext_lazy("Per language, the text paths the version's translations block leaves out (shown from "
                               "the catalogue or in English); publishing does not wait for them"))

    class Meta(FrameworkVersionSerializer.Meta):
        fields = [*FrameworkVersionSerializer.Meta.fields, "review_by", "changes_from", "changes",
                  "missing_translations", "rules"]
        read_only_fields = fields

    def _previous(self, fv):
        if not hasattr(fv, "_previous_version"):
            fv._previous_version = services.previous_version(fv)
        return fv._previous_version

    @extend_schema_field(serializers.DictField(child=serializers.ListField(child=serializers.CharField())))
    def get_missing_translations(self, fv):
        try:
            return {code: [t.path for t in found] for code, _name, found in texts.missing(fv.rules)}
        except (KeyError, TypeError, AttributeError, ValueError):
            return {}  # a draft's broken rules: the rules endpoint names the problem

    def get_review_by(self, fv) -> dt.datetime | None:
        return framework_rules.review_by(fv)

    def get_changes_from(self, fv) -> str | None:
        previous = self._previous(fv)
        return previous.version if previous else None

    @extend_schema_field(ChangeSectionSerializer(many=True))
    def get_changes(self, fv):
        previous = self._previous(fv)
        if previous is None:
            return []
        try:
            return changes.rule_changes(previous.rules, fv.rules)
        except (KeyError, TypeError, AttributeError, ValueError, IndexError):
            return []  # a draft's broken rules: the rules endpoint names the problem


class DraftVersionInput(serializers.Serializer):
    version = serializers.CharField(max_length=20, help_text=gettext_lazy("The new version's id, e.g. 2026.1"))


class RulesInput(serializers.Serializer):
    rules = serializers.DictField(help_text=gettext_lazy("The whole rules document of the draft, one JSON object"))


class TranslationsInput(serializers.Serializer):
    translations = serializers.DictField(
        child=serializers.DictField(child=serializers.CharField(allow_blank=True, max_length=5000)),
        help_text=gettext_lazy("{\"<language>\": {\"<text path>\": \"<text>\"}}: each language named replaces its "
                               "texts in the draft's translations block (an empty text is dropped); languages not "
                               "named keep theirs. Text paths as in missing_translations, e.g. "
                               "requirements.model_card.title"))


class PublishVersionInput(serializers.Serializer):
    effective_date = serializers.DateField(help_text=gettext_lazy("In force from 00:00 UTC on this date; not in the "
                                                                  "past"))


def _checked(form):
    """The page's form decides what is valid; its errors come back keyed by field."""
    if not form.is_valid():
        raise form_error(form)
    return form


class FrameworkVersionViewSet(StaffAPIMixin, viewsets.GenericViewSet):
    """Framework versions for staff, drafts included: draft a version from the latest published one,
    edit a draft's rules, publish it with an effective date (the staff framework pages' services)."""

    serializer_class = FrameworkVersionSerializer
    pagination_class = None
    parser_classes = [JSONParser]
    lookup_field = "version"
    lookup_value_regex = r"[^/]+"

    def get_queryset(self):
        return FrameworkVersion.objects.select_related("published_by").order_by("status", "-effective_from",
                                                                                 "-version")

    def get_serializer_context(self):
        in_force = FrameworkVersion.objects.in_force()
        return {**super().get_serializer_context(), "in_force_pk": in_force.pk if in_force else None}

    def _detail(self, fv, status_code=status.HTTP_200_OK) -> Response:
        fv.refresh_from_db()
        return Response(FrameworkVersionDetailSerializer(fv, context=self.get_serializer_context()).data,
                        status=status_code)

    def _refused(self, exc: services.WorkflowError):
        raise ValidationError(exc.errors) from exc

    @extend_schema(operation_id="framework_versions_list", summary=gettext_lazy("Framework versions, drafts included "
                                                                                "(staff)"),
                   responses=FrameworkVersionSerializer(many=True), tags=["staff"])
    def list(self, request):
        return Response(self.get_serializer(self.get_queryset(), many=True).data)

    @extend_schema(operation_id="framework_versions_draft", summary=gettext_lazy("Draft a version from the latest "
                                                                                 "published one"),
                   request=DraftVersionInput, responses={201: FrameworkVersionDetailSerializer}, tags=["staff"])
    def create(self, request):
        data = DraftVersionInput(data=request.data)
        data.is_valid(raise_exception=True)
        form = _checked(FrameworkVersionCreateForm(data.validated_data))
        try:
            fv = services.draft_framework_version(request.user, form.cleaned_data["version"], request=request)
        except services.WorkflowError as exc:
            self._refused(exc)
        return self._detail(fv, status.HTTP_201_CREATED)

    @extend_schema(operation_id="framework_versions_retrieve", summary=gettext_lazy("A framework version with its "
                                                                                    "rules (staff)"),
                   responses=FrameworkVersionDetailSerializer, tags=["staff"])
    def retrieve(self, request, version=None):
        return self._detail(self.get_object())

    @extend_schema(operation_id="framework_versions_rules", summary=gettext_lazy("Replace a draft's rules"),
                   description=gettext_lazy("Only a draft changes. The rules must name the draft's version, classify, "
                                            "and list requirements and statements for every tier."),
                   request=RulesInput, responses=FrameworkVersionDetailSerializer, tags=["staff"])
    @action(detail=True, methods=["put"])
    def rules(self, request, version=None):
        fv = self.get_object()
        data = RulesInput(data=request.data)
        data.is_valid(raise_exception=True)
        # Through the page's form: the same size, object and canonical-JSON checks as the text pasted there.
        form = _checked(FrameworkRulesForm({"rules": json.dumps(data.validated_data["rules"], ensure_ascii=False)}))
        try:
            services.update_framework_rules(fv, request.user, form.cleaned_data["rules"], request=request)
        except services.WorkflowError as exc:
            raise ValidationError({"rules": [m for errors in exc.errors.values() for m in errors]}) from exc
        return self._detail(fv)

    @extend_schema(operation_id="framework_versions_translations", summary=gettext_lazy("Set a draft's texts in other "
                                                                                        "languages"),
                   description=gettext_lazy("The page /staff/framework/{version}/texts/. Only a draft changes; every "
                                            "path must name a text of the version and keep the English text's "
                                            "{placeholders}."),
                   request=TranslationsInput, responses=FrameworkVersionDetailSerializer, tags=["staff"])
    @action(detail=True, methods=["put"])
    def translations(self, request, version=None):
        fv = self.get_object()
        data = TranslationsInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            services.update_framework_translations(fv, request.user, data.validated_data["translations"],
                                                   request=request)
        except services.WorkflowError as exc:
            self._refused(exc)
        return self._detail(fv)

    @extend_schema(operation_id="framework_versions_publish", summary=gettext_lazy("Publish a draft with its effective "
                                                                                   "date"),
                   description=gettext_lazy("The digest of its canonical rules is recorded; a published version never "
                                            "changes."),
                   request=PublishVersionInput, responses=FrameworkVersionDetailSerializer, tags=["staff"])
    @action(detail=True, methods=["post"])
    def publish(self, request, version=None):
        fv = self.get_object()
        data = PublishVersionInput(data=request.data)
        data.is_valid(raise_exception=True)
        form = _checked(FrameworkPublishForm({"effective_date": data.validated_data["effective_date"].isoformat()}))
        try:
            services.publish_framework_version(fv, request.user, form.effective_from, request=request)
        except services.WorkflowError as exc:
            self._refused(exc)
        return self._detail(fv)


staff_router = SimpleRouter()
staff_router.register("framework-versions", FrameworkVersionViewSet, basename="framework-version")

urlpatterns = [
    path("classify/", ClassifyView.as_view(), name="classify"),
    *staff_router.urls,
]
