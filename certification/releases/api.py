"""Authenticated API of the certification flow (DESIGN §7.1, last line): the
same service functions as the pages, the same access rules (404 for other
organizations), 400 with field errors on bad input."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from certification.framework import services as framework_services
from certification.framework import tiers
from certification.framework.models import Benchmark
from certification.releases import applications as release_applications
from certification.releases import checklist, evidence, lineage, modelcard
from certification.releases import services as release_services
from certification.releases.forms import MODALITIES, AttestationForm
from certification.releases.manifest import ManifestError, parse_manifest
from certification.releases.models import (
    AIModel,
    Application,
    BenchmarkResult,
    ContactConfirmation,
    Documentation,
    EvidenceFile,
    Release,
    Upstream,
)
from certification.releases.views.lineage import assumed_tier
from certification.releases.views.modelcards import ModelCardImportForm
from certification.releases.views.releases import send_contact_confirmation
from portal.api_auth import requires_scope
from portal.models import ApiToken, Membership, Organization
from portal.parsers import JSONParser
from portal.schema import ValidationErrorSerializer
from portal.validators import plain_text


def _raise(exc: framework_services.WorkflowError):
    raise ValidationError(exc.errors) from exc


def _member(user, org) -> Membership:
    membership = Membership.objects.filter(user=user, organization=org).first()
    if membership is None:
        raise PermissionDenied(_("Only members of the organization may do this."))
    return membership


# --- serializers ----------------------------------------------------------------------


class AIModelSerializer(serializers.ModelSerializer):
    organization = serializers.SlugRelatedField(slug_field="slug", queryset=Organization.objects.none())
    # Not the model's free JSON: a list of the modalities the page offers.
    modalities = serializers.ListField(child=serializers.ChoiceField(choices=MODALITIES), required=False,
                                       max_length=len(MODALITIES))

    class Meta:
        model = AIModel
        fields = ["id", "organization", "name", "slug", "description", "modalities", "hub_repo_id", "created_at"]
        read_only_fields = ["id", "created_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None and request.user.is_authenticated:
            self.fields["organization"].queryset = Organization.objects.filter(memberships__user=request.user)


class ArtifactSerializer(serializers.Serializer):
    path = serializers.CharField()
    size = serializers.IntegerField(min_value=0)
    sha256 = serializers.RegexField(r"^[0-9a-fA-F]{64}$")


class ClassifierInputField(serializers.Field):
    """A release fact as sent, unconverted: the release services check it with the classifier
    (``tiers.validate_inputs``), so this API refuses what ``POST /api/v1/classify/`` refuses
    ("1000", 1000.0 or true as a parameter count, "true" as a boolean), with its messages."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        return data

    def to_representation(self, value):
        return value


@extend_schema_field(OpenApiTypes.INT64)
class ParameterCountField(ClassifierInputField):
    pass


@extend_schema_field({"type": "array", "items": {"type": "string"}})
class NamesField(ClassifierInputField):
    pass


@extend_schema_field(OpenApiTypes.BOOL)
class FlagField(ClassifierInputField):
    pass


@extend_schema_field(OpenApiTypes.STR)
class TextField(ClassifierInputField):
    pass


class ReleaseSerializer(serializers.ModelSerializer):
    model = serializers.PrimaryKeyRelatedField(source="ai_model", queryset=AIModel.objects.none())
    parameter_count = ParameterCountField(help_text=gettext_lazy("Total parameters, a JSON integer (not a string, "
                                                                 "float or boolean); required when registering"))
    capabilities = NamesField(help_text=gettext_lazy("Capability ids of the framework version"))
    sensitive_domains = NamesField(help_text=gettext_lazy("Sensitive domain ids of the framework version"))
    emergent_capabilities = FlagField()
    emergent_description = TextField(help_text=gettext_lazy("Required when emergent_capabilities is true"))
    artifacts = ArtifactSerializer(many=True, required=False)
    tier = serializers.SerializerMethodField()
    rules_fired = serializers.SerializerMethodField()

    class Meta:
        model = Release
        fields = ["id", "model", "version", "parameter_count", "capabilities", "sensitive_domains",
                  "emergent_capabilities", "emergent_description", "declared_tier", "raised_tier", "hub_revision",
                  "artifacts", "tier", "rules_fired", "created_at"]
        read_only_fields = ["id", "raised_tier", "tier", "rules_fired", "created_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None and request.user.is_authenticated:
            self.fields["model"].queryset = AIModel.objects.filter(organization__memberships__user=request.user)

    def _rules(self, release):
        return release_services.rules_for_release(release)

    def get_tier(self, release) -> int:
        return release_services.effective_tier(release, self._rules(release))

    def get_rules_fired(self, release) -> list[dict]:
        return [r.to_api() for r in release_services.classify_release(release, self._rules(release)).rules]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["artifacts"] = [{"path": a.path, "size": a.size, "sha256": a.sha256} for a in instance.artifacts.all()]
        return data


class SectionSerializer(serializers.Serializer):
    data = serializers.DictField(help_text=gettext_lazy("The section's answers, keyed as on the section's page"))


class BenchmarkResultSerializer(serializers.ModelSerializer):
    benchmark = serializers.SlugRelatedField(slug_field="slug", queryset=Benchmark.objects.filter(established=True))

    class Meta:
        model = BenchmarkResult
        fields = ["id", "benchmark", "metric", "value", "harness", "settings_text", "run_date", "run_by", "evidence"]
        read_only_fields = ["id"]

    def __init__(self, *args, organization=None, **kwargs):
        super().__init__(*args, **kwargs)
        if organization is not None:
            # The catalogue and the organization's own custom benchmarks.
            self.fields["benchmark"].queryset = Benchmark.objects.filter(
                Q(established=True) | Q(proposed_by=organization))


class UpstreamInputSerializer(serializers.Serializer):
    relation = serializers.ChoiceField(choices=Upstream.Relation.choices,
                                       help_text=gettext_lazy("fine_tune, merge, distilled, quantization or adapter"))
    kind = serializers.ChoiceField(choices=Upstream.Kind.choices, help_text=gettext_lazy("How the upstream is named"))
    value = serializers.CharField(max_length=200, help_text=gettext_lazy("A certificate number, hub repo id or sha256"))


class UpstreamSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    relation = serializers.ChoiceField(choices=Upstream.Relation.choices)
    kind = serializers.ChoiceField(choices=Upstream.Kind.choices)
    value = serializers.CharField()
    status = serializers.CharField(help_text=gettext_lazy("valid, suspended, revoked, expired, uncertified or unknown"))
    flags = serializers.ListField(child=serializers.CharField(),
                                  help_text=gettext_lazy("suspended, revoked, lower_tier"))
    certificate = serializers.CharField(allow_null=True, help_text=gettext_lazy("The number of the certificate it "
                                                                                "resolves to"))


def upstream_data(upstream: Upstream, link=None) -> dict:
    cert = link.certificate if link is not None else None
    return {"id": upstream.pk, "relation": upstream.relation, "kind": upstream.kind, "value": upstream.value,
            "status": link.status if link is not None else "unknown", "flags": list(link.flags) if link else [],
            "certificate": cert.number if cert is not None else None}


class BenchmarkSerializer(serializers.ModelSerializer):
    organization = serializers.SlugRelatedField(
        source="proposed_by", slug_field="slug", queryset=Organization.objects.none(), required=False,
        allow_null=True, help_text=gettext_lazy("For a custom benchmark: the proposing organization; null for the "
                                                "catalogue's"),
    )

    class Meta:
        model = Benchmark
        fields = ["slug", "name", "category", "headline_metric", "better_when", "established", "organization"]
        read_only_fields = ["slug", "established"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None and request.user.is_authenticated:
            self.fields["organization"].queryset = Organization.objects.filter(memberships__user=request.user)


class EvidenceSerializer(serializers.ModelSerializer):
    class Meta:
        model = EvidenceFile
        fields = ["id", "section", "display_name", "family", "size", "sha256", "is_public", "uploaded_at"]
        read_only_fields = fields


class ApplicationSerializer(serializers.ModelSerializer):
    release = serializers.PrimaryKeyRelatedField(read_only=True)
    framework_version = serializers.SlugRelatedField(slug_field="version", read_only=True)
    owner = serializers.SerializerMethodField()
    open_gates = serializers.SerializerMethodField()
    revisions = serializers.SerializerMethodField()

    class Meta:
        model = Application
        fields = ["id", "release", "framework_version", "status", "tier", "owner", "created_at", "submitted_at",
                  "decided_at", "open_gates", "revisions"]
        read_only_fields = fields

    def get_owner(self, app) -> str | None:
        return app.owner.email if app.owner else None

    def get_open_gates(self, app) -> list[str]:
        return release_applications.open_gates(app) if app.status == Application.Status.IN_REVIEW else []

    def get_revisions(self, app) -> list[dict]:
        return [{"number": r.number, "sha256": r.sha256, "created_at": r.created_at}
                for r in app.revisions.order_by("number")]


class AttestationInputSerializer(serializers.Serializer):
    """The attestation page's form (``forms.AttestationForm``): the signer, and each numbered statement
    of the application's framework version for its tier, every one affirmed."""

    signer_name = serializers.CharField(max_length=200, validators=[plain_text], help_text=gettext_lazy("The signer's "
                                                                                                        "full name"))
    signer_title = serializers.CharField(max_length=200, validators=[plain_text],
                                         help_text=gettext_lazy("The signer's title or role"))
    affirmed = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=1000), max_length=100,
        help_text=gettext_lazy("The numbers of the statements affirmed: every statement the attestation page shows for "
                               "the application's tier. A missing one is refused with its number and text."))

    def validate_against(self, statements: list[dict]) -> dict:
        """Run the page's form on the request's data, so that both refuse the same things the same way."""
        data = self.validated_data
        known = {s["number"]: s["text"] for s in statements}
        unknown = sorted(set(data["affirmed"]) - set(known))
        form = AttestationForm(
            {"signer_name": data["signer_name"], "signer_title": data["signer_title"],
             **{f"statement_{n}": "on" for n in data["affirmed"]}},
            statements=statements,
        )
        errors: dict[str, list[str]] = {}
        if unknown:
            errors["affirmed"] = [
                f"No statement {n} for this application's tier; its statements are "
                f"{', '.join(str(k) for k in known)}." for n in unknown]
        if not form.is_valid():
            for field, messages in form.errors.items():
                if field.startswith("statement_"):
                    number = int(field.removeprefix("statement_"))
                    errors.setdefault("affirmed", []).extend(f"{m} ({number}. {known[number]})" for m in messages)
                else:
                    errors.setdefault(field, []).extend(messages)
        if errors:
            raise ValidationError(errors)
        return {"signer_name": form.cleaned_data["signer_name"], "signer_title": form.cleaned_data["signer_title"],
                "affirmed": form.affirmed()}


class ReasonsSerializer(serializers.Serializer):
    reasons = serializers.CharField()


class ChangesSerializer(serializers.Serializer):
    comments = serializers.DictField(child=serializers.CharField(allow_blank=True),
                                     help_text=gettext_lazy("A comment per section id"))


class ContactConfirmationSerializer(serializers.Serializer):
    email = serializers.EmailField(allow_null=True, help_text=gettext_lazy("The address saved in the vulnerability "
                                                                           "contact section (null while none is saved)"))
    confirmed = serializers.BooleanField(help_text=gettext_lazy("Whether the contact has used a link sent to this "
                                                                "address"))
    sent_at = serializers.DateTimeField(allow_null=True, help_text=gettext_lazy("When the last link to this address "
                                                                                "was sent"))
    confirmed_at = serializers.DateTimeField(allow_null=True)


class ModelCardImportSerializer(serializers.Serializer):
    """Documented shape of the import; ``ModelCardImportForm`` (the page's form) validates it."""

    card_text = serializers.CharField(required=False,
                                      help_text=gettext_lazy("The README.md, YAML front matter included"))


class ModelCardUploadSerializer(ModelCardImportSerializer):
    card_file = serializers.FileField(required=False, help_text=gettext_lazy("The README.md as a file (UTF-8, up to 1 "
                                                                             "MB)"))


class ModelCardImportResultSerializer(serializers.Serializer):
    sections = serializers.ListField(child=serializers.CharField(),
                                     help_text=gettext_lazy("Ids of the sections updated"))
    benchmarks_added = serializers.ListField(child=serializers.CharField())
    benchmarks_skipped = serializers.ListField(
        child=serializers.CharField(), help_text=gettext_lazy("Datasets of the card outside the benchmark catalogue"))
    notes = serializers.ListField(child=serializers.CharField(), help_text=gettext_lazy("What to complete by hand"))


# --- viewsets ---------------------------------------------------------------------------


class AIModelViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                     viewsets.GenericViewSet):
    """Models of your organizations (all of them for staff)."""

    serializer_class = AIModelSerializer
    queryset = AIModel.objects.none()

    def get_queryset(self):
        return AIModel.objects.visible_to(self.request.user).select_related("organization").distinct()

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        org = data.pop("organization")
        _member(self.request.user, org)
        try:
            serializer.instance = release_services.register_model(org, self.request.user, request=self.request, **data)
        except framework_services.WorkflowError as exc:
            _raise(exc)


class ReleaseViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                     mixins.UpdateModelMixin, viewsets.GenericViewSet):
    """Releases, their tier and fired rules, documentation, evidence and checklist."""

    serializer_class = ReleaseSerializer
    queryset = Release.objects.none()
    http_method_names = ["get", "post", "patch", "put", "head", "options"]

    def get_queryset(self):
        return Release.objects.visible_to(self.request.user).select_related("ai_model__organization").distinct()

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        model = data.pop("ai_model")
        artifacts = data.pop("artifacts", None)
        _member(self.request.user, model.organization)
        try:
            serializer.instance = release_services.create_release(model, self.request.user, data, artifacts=artifacts,
                                                          request=self.request)
        except framework_services.WorkflowError as exc:
            _raise(exc)

    def perform_update(self, serializer):
        release = serializer.instance
        _member(self.request.user, release.organization)
        data = dict(serializer.validated_data)
        data.pop("ai_model", None)
        artifacts = data.pop("artifacts", None)
        try:
            if data:
                release_services.update_release(release, self.request.user, data, request=self.request)
            if artifacts is not None:
                release_services.ensure_release_editable(release)
                release_services.replace_artifacts(release, self.request.user,
                                           parse_manifest_entries(artifacts), request=self.request)
        except framework_services.WorkflowError as exc:
            _raise(exc)

    @extend_schema(responses=inline_serializer("Checklist", {
        "tier": serializers.IntegerField(), "items": serializers.ListField(child=serializers.DictField())}))
    @action(detail=True, methods=["get"])
    def checklist(self, request, pk=None):
        release = self.get_object()
        rules = release_services.rules_for_release(release)
        tier = release_services.effective_tier(release, rules)
        items = checklist.build(release, tier, rules, Documentation.objects.filter(release=release).first())
        return Response({"tier": tier, "items": [
            {"id": i.id, "title": i.title, "status": i.status, "met": i.met, "problems": i.problems} for i in items]})

    @extend_schema(request=SectionSerializer, responses=SectionSerializer)
    @action(detail=True, methods=["get", "put"], url_path=r"sections/(?P<section>[a-z_]+)")
    def section(self, request, pk=None, section=None):
        release = self.get_object()
        if section not in tiers.section_ids(release_services.rules_for_release(release)):
            raise Http404
        if request.method == "GET":
            doc = Documentation.objects.filter(release=release).first()
            return Response({"data": doc.section(section) if doc else {}})
        _member(request.user, release.organization)
        serializer = SectionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            release_services.update_section(release, request.user, section, serializer.validated_data["data"],
                                            request=request)
        except framework_services.WorkflowError as exc:
            _raise(exc)
        return Response({"data": serializer.validated_data["data"]})

    @extend_schema(methods=["GET"], request=None, responses=BenchmarkResultSerializer(many=True))
    @extend_schema(methods=["POST"], request=BenchmarkResultSerializer, responses={201: BenchmarkResultSerializer})
    @action(detail=True, methods=["get", "post"], url_path="benchmark-results", pagination_class=None)
    def benchmark_results(self, request, pk=None):
        release = self.get_object()
        if request.method == "POST":
            _member(request.user, release.organization)
            serializer = BenchmarkResultSerializer(data=request.data, organization=release.organization)
            serializer.is_valid(raise_exception=True)
            data = dict(serializer.validated_data)
            if data.get("evidence") is not None and data["evidence"].release_id != release.pk:
                raise ValidationError({"evidence": [_("Not an evidence file of this release.")]})
            try:
                result = release_services.add_benchmark_result(release, request.user, request=request, **data)
            except framework_services.WorkflowError as exc:
                _raise(exc)
            return Response(BenchmarkResultSerializer(result).data, status=status.HTTP_201_CREATED)
        qs = release.benchmark_results.select_related("benchmark")
        return Response(BenchmarkResultSerializer(qs, many=True).data)

    @extend_schema(methods=["GET"], request=None, responses=EvidenceSerializer(many=True))
    @extend_schema(
        methods=["POST"],
        request={"multipart/form-data": inline_serializer("EvidenceUpload", {
            "file": serializers.FileField(), "section": serializers.CharField(required=False),
            "is_public": serializers.BooleanField(required=False)})},
        responses={201: EvidenceSerializer, 503: OpenApiResponse(
            ValidationErrorSerializer, description=gettext_lazy("The file could not be stored; retry after Retry-After."))},
    )
    @action(detail=True, methods=["get", "post"], parser_classes=[MultiPartParser, FormParser, JSONParser],
            pagination_class=None)
    def evidence(self, request, pk=None):
        release = self.get_object()
        if request.method == "GET":
            return Response(EvidenceSerializer(release.evidence_files.all(), many=True).data)
        _member(request.user, release.organization)
        upload = request.FILES.get("file")  # parses the body; the size handler may stop it
        if getattr(request._request, "upload_too_large", False):
            raise ValidationError({"file": [_("The file is larger than the limit of %(limit)s.") % {
                "limit": filesizeformat(evidence.max_size())}]})
        if upload is None:
            raise ValidationError({"file": [_("Attach the file as multipart field 'file'.")]})
        section = request.data.get("section", "")
        sections = tiers.section_ids(release_services.rules_for_release(release))
        if section and section not in sections:
            raise ValidationError({"section": [_("Unknown section; one of %(choices)s.") % {
                "choices": ", ".join(sections)}]})
        try:
            release_services.ensure_release_editable(release)
            stored = evidence.store(release, upload, request.user, section=section,
                                    is_public=str(request.data.get("is_public", "")).lower() in ("1", "true", "on"),
                                    request=request)
        except evidence.EvidenceStorageError as exc:
            # Not the sender's fault (disk full, object store refusing): nothing was kept, try again later.
            return Response({"file": [str(exc)]}, status=status.HTTP_503_SERVICE_UNAVAILABLE,
                            headers={"Retry-After": "60"})
        except evidence.EvidenceError as exc:
            raise ValidationError({"file": [str(exc)]}) from exc
        except framework_services.WorkflowError as exc:
            _raise(exc)
        return Response(EvidenceSerializer(stored).data, status=status.HTTP_201_CREATED)

    def initialize_request(self, request, *args, **kwargs):
        # The evidence size limit is enforced while the body streams.
        request.upload_handlers.insert(0, evidence.SizeLimitUploadHandler(request))
        return super().initialize_request(request, *args, **kwargs)

    @extend_schema(request=None, responses={201: ApplicationSerializer})
    @action(detail=True, methods=["post"])
    def apply(self, request, pk=None):
        release = self.get_object()
        _member(request.user, release.organization)
        try:
            app = release_applications.start_application(release, request.user, request=request)
        except framework_services.WorkflowError as exc:
            _raise(exc)
        return Response(ApplicationSerializer(app).data, status=status.HTTP_201_CREATED)

    # --- the vulnerability contact, model cards, removing from a draft (the pages' operations) ---

    def _contact_state(self, release: Release) -> dict:
        rules = release_services.rules_for_release(release)
        section = next((r["id"] for r in rules["requirements"]
                        if tiers.check_kind(r) == "vulnerability_contact"), "vulnerability_contact")
        doc = Documentation.objects.filter(release=release).first()
        email = (doc.section(section) if doc else {}).get("email")
        email = email.strip().lower() if isinstance(email, str) else ""  # the API stores sections as sent
        sent = ContactConfirmation.objects.filter(release=release, email=email).order_by("-sent_at")
        confirmed = sent.filter(confirmed_at__isnull=False).first() if email else None
        last = sent.first() if email else None
        return {"email": email or None, "confirmed": confirmed is not None, "sent_at": last.sent_at if last else None,
                "confirmed_at": confirmed.confirmed_at if confirmed else None}

    @extend_schema(methods=["GET"], request=None, responses=ContactConfirmationSerializer)
    @extend_schema(methods=["POST"], request=None, responses={
        202: OpenApiResponse(ContactConfirmationSerializer, description=gettext_lazy("A confirmation link was sent.")),
        200: OpenApiResponse(ContactConfirmationSerializer, description=gettext_lazy("Already confirmed: nothing was "
                                                                                     "sent.")),
    })
    @action(detail=True, methods=["get", "post"], url_path="contact-confirmation")
    def contact_confirmation(self, request, pk=None):
        """GET: whether the vulnerability contact's address is confirmed. POST (members): email the
        confirmation link to the address saved in the section, as saving the section's page does.
        The contact confirms with the link (no account needed); the checklist then counts it."""
        release = self.get_object()
        state = self._contact_state(release)
        if request.method == "GET":
            return Response(state)
        _member(request.user, release.organization)
        if state["confirmed"]:
            return Response(state)
        if not state["email"]:
            raise ValidationError({"email": [_("Save the vulnerability contact section with an email address first.")]})
        try:
            validate_email(state["email"])
            if len(state["email"]) > ContactConfirmation._meta.get_field("email").max_length:
                raise DjangoValidationError("too long")
        except DjangoValidationError as exc:
            raise ValidationError({"email": [_(
                "The vulnerability contact section's address %(email)r is not a valid email address: correct the "
                "section first.") % {"email": state["email"][:80]}]}) from exc
        try:
            release_services.ensure_release_editable(release)
        except framework_services.WorkflowError as exc:
            _raise(exc)
        send_contact_confirmation(release, state["email"], actor=request.user, request=request)
        return Response(self._contact_state(release), status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={(200, "text/markdown"): OpenApiTypes.STR})
    @action(detail=True, methods=["get"], url_path="model-card")
    def model_card(self, request, pk=None):
        """The documentation as a Hugging Face README.md (the page's export)."""
        release = self.get_object()
        response = HttpResponse(modelcard.export_card(release), content_type="text/markdown; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="README.md"'
        return response

    @extend_schema(request={"application/json": ModelCardImportSerializer,
                            "multipart/form-data": ModelCardUploadSerializer},
                   responses=ModelCardImportResultSerializer)
    @action(detail=True, methods=["post"], url_path="model-card/import",
            parser_classes=[JSONParser, MultiPartParser, FormParser])
    def model_card_import(self, request, pk=None):
        """Prefill the documentation from a Hugging Face README.md (members; drafts only), all or nothing."""
        release = self.get_object()
        _member(request.user, release.organization)
        data = request.data if hasattr(request.data, "get") else {}
        form = ModelCardImportForm(data, request.FILES)
        if not form.is_valid():
            raise ValidationError({("non_field_errors" if k == "__all__" else k): [e["message"] for e in v]
                                   for k, v in form.errors.get_json_data().items()})
        field, raw = form.raw()
        try:
            summary = modelcard.import_card(release, request.user, raw, request=request)
        except modelcard.ModelCardError as exc:
            raise ValidationError({field: [str(exc)]}) from exc
        except framework_services.WorkflowError as exc:
            _raise(exc)
        return Response(ModelCardImportResultSerializer(summary).data)

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["delete"], url_path=r"evidence/(?P<evidence_id>\d+)",
            http_method_names=["delete", "options"])  # the viewset itself has no DELETE
    def evidence_file(self, request, pk=None, evidence_id=None):
        """Delete an evidence file of a draft (members, as on the release page)."""
        release = self.get_object()
        ev = release.evidence_files.filter(pk=evidence_id).first()
        if ev is None:
            raise Http404
        _member(request.user, release.organization)
        try:
            release_services.ensure_release_editable(release)
            evidence.delete(ev, request.user, request=request)
        except framework_services.WorkflowError as exc:
            _raise(exc)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(methods=["GET"], request=None, responses=UpstreamSerializer(many=True))
    @extend_schema(methods=["POST"], request=UpstreamInputSerializer, responses={201: UpstreamSerializer})
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def upstreams(self, request, pk=None):
        """The models the release was built on, each resolved to its certificate with status and flags;
        POST declares one more while the release can change (members, as on the release's page)."""
        release = self.get_object()
        if request.method == "POST":
            _member(request.user, release.organization)
            serializer = UpstreamInputSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            try:
                upstream = lineage.add_upstream(release, request.user, request=request, **serializer.validated_data)
            except framework_services.WorkflowError as exc:
                _raise(exc)
            links = {link.upstream.pk: link for link in lineage.resolve(release, assumed_tier(release))}
            return Response(upstream_data(upstream, links.get(upstream.pk)), status=status.HTTP_201_CREATED)
        links = lineage.resolve(release, assumed_tier(release))
        return Response([upstream_data(link.upstream, link) for link in links])

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["delete"], url_path=r"upstreams/(?P<upstream_id>\d+)",
            http_method_names=["delete", "options"])  # the viewset itself has no DELETE
    def upstream(self, request, pk=None, upstream_id=None):
        """Remove a declared upstream of a release that can change (members)."""
        release = self.get_object()
        upstream = release.upstreams.filter(pk=upstream_id).first()
        if upstream is None:
            raise Http404
        _member(request.user, release.organization)
        try:
            lineage.remove_upstream(upstream, request.user, request=request)
        except framework_services.WorkflowError as exc:
            _raise(exc)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["delete"], url_path=r"benchmark-results/(?P<result_id>\d+)",
            http_method_names=["delete", "options"])  # the viewset itself has no DELETE
    def benchmark_result(self, request, pk=None, result_id=None):
        """Remove a benchmark result of a draft (members, as on the section's page)."""
        release = self.get_object()
        result = release.benchmark_results.select_related("benchmark").filter(pk=result_id).first()
        if result is None:
            raise Http404
        _member(request.user, release.organization)
        try:
            release_services.delete_benchmark_result(result, request.user, request=request)
        except framework_services.WorkflowError as exc:
            _raise(exc)
        return Response(status=status.HTTP_204_NO_CONTENT)


def parse_manifest_entries(entries: list[dict]) -> list[dict]:
    import json

    try:
        return parse_manifest(json.dumps({"artifacts": entries}).encode())
    except ManifestError as exc:
        raise ValidationError({"artifacts": [str(exc)]}) from exc


class ApplicationActions(viewsets.GenericViewSet):
    """The applications the user may see, and how an action runs a workflow service.
    The decision actions (``certification.certificates.api``) build on it too."""

    serializer_class = ApplicationSerializer
    queryset = Application.objects.none()

    def get_queryset(self):
        qs = Application.objects.visible_to(self.request.user).select_related(
            "release__ai_model__organization", "framework_version", "owner").distinct()
        status_filter = self.request.query_params.get("status")
        if status_filter:
            qs = qs.filter(status=status_filter)
        return qs

    def _do(self, fn, *args, **kwargs):
        app = self.get_object()
        try:
            fn(app, self.request.user, *args, request=self.request, **kwargs)
        except framework_services.WorkflowError as exc:
            _raise(exc)
        app.refresh_from_db()
        return Response(ApplicationSerializer(app).data)

    def _staff(self):
        if not self.request.user.is_alliance_staff:
            raise PermissionDenied(_("Only Alliance staff may do this."))


class ApplicationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApplicationActions):
    """Applications, and every transition of the workflow up to the decision as an action."""

    @extend_schema(request=AttestationInputSerializer, responses=ApplicationSerializer)
    @action(detail=True, methods=["post"])
    @requires_scope(ApiToken.ATTEST)
    def submit(self, request, pk=None):
        """File the attestation (organization admins) and freeze the documentation.

        With a token, it needs the `attest` scope: such a token is created on the API tokens page after a
        fresh authentication (and the second factor where the account has one) and expires within the hour,
        as the page asks for a fresh authentication before filing."""
        app = self.get_object()
        serializer = AttestationInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rules = app.framework_version.rules
        statements = tiers.attestation_statements_for_tier(rules, release_services.effective_tier(app.release, rules))
        return self._do(release_applications.submit_application, **serializer.validate_against(statements))

    @extend_schema(request=None, responses=ApplicationSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        return self._do(release_applications.withdraw)

    @extend_schema(request=None, responses=ApplicationSerializer)
    @action(detail=True, methods=["post"])
    @requires_scope("staff")
    def screen(self, request, pk=None):
        self._staff()
        return self._do(release_applications.start_screening)

    @extend_schema(request=ChangesSerializer, responses=ApplicationSerializer)
    @action(detail=True, methods=["post"], url_path="request-changes")
    @requires_scope("staff")
    def request_changes(self, request, pk=None):
        self._staff()
        serializer = ChangesSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._do(release_applications.request_changes, serializer.validated_data["comments"])

    @extend_schema(request=None, responses=ApplicationSerializer)
    @action(detail=True, methods=["post"])
    @requires_scope("staff")
    def accept(self, request, pk=None):
        self._staff()
        return self._do(release_applications.accept_into_review)

    @extend_schema(request=None, responses=ApplicationSerializer)
    @action(detail=True, methods=["post"], url_path="complete-review")
    @requires_scope("staff")
    def complete_review(self, request, pk=None):
        self._staff()
        return self._do(release_applications.complete_review)


class BenchmarkViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    """The benchmark catalogue and custom benchmarks. Organizations propose custom ones
    (counted toward the minimum once staff mark them established)."""

    serializer_class = BenchmarkSerializer
    queryset = Benchmark.objects.none()
    lookup_field = "slug"

    def get_queryset(self):
        orgs = Organization.objects.filter(memberships__user=self.request.user)
        qs = Benchmark.objects.select_related("proposed_by")
        if self.request.user.is_alliance_staff:
            return qs
        return qs.filter(Q(established=True) | Q(proposed_by__in=orgs))

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        org = data.pop("proposed_by", None)
        if org is None:
            raise ValidationError({"organization": [_("Name the organization proposing the benchmark.")]})
        _member(self.request.user, org)
        serializer.instance = release_services.propose_benchmark(org, self.request.user, request=self.request, **data)

    @extend_schema(request=None, responses=BenchmarkSerializer)
    @action(detail=True, methods=["post"])
    @requires_scope("staff")
    def establish(self, request, slug=None):
        if not request.user.is_alliance_staff:
            raise PermissionDenied(_("Only Alliance staff may do this."))
        benchmark = self.get_object()
        try:
            release_services.establish_benchmark(benchmark, request.user, request=request)
        except framework_services.WorkflowError as exc:
            _raise(exc)
        benchmark.refresh_from_db()
        return Response(BenchmarkSerializer(benchmark).data)


router = SimpleRouter()
router.register("benchmarks", BenchmarkViewSet, basename="benchmark")
router.register("models", AIModelViewSet, basename="model")
router.register("releases", ReleaseViewSet, basename="release")
router.register("applications", ApplicationViewSet, basename="application")
urlpatterns = router.urls

