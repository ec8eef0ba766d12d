"""Public JSON API of the registry and verification (DESIGN §7.1), plus the
authenticated certificate, renewal, appeal and concern actions.

The public endpoints are anonymous (no session, so no CSRF and no cookie),
throttled per client address, and answer with an ETag and Last-Modified;
``If-None-Match`` / ``If-Modified-Since`` give 304. They send
``Cache-Control: no-cache``: clients and proxies may store a response but must
revalidate it, so a status change shows on the very next request. CORS allows
any origin on GET, without credentials.

``GET /api/v1/verify/`` is the exception: it is answered from the shared cache
after the first request (``verify_cache``: no SQL and no throttle; invalidated on
every status change, never kept past an expiry) with ``Cache-Control: public,
max-age=60`` (less when a listed certificate expires sooner). A miss by number runs
one SQL query.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from django.urls import path
from django.utils import timezone
from django.utils.cache import get_conditional_response
from django.utils.http import http_date
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import (
    NotFound,
    PermissionDenied,
    Throttled,
    ValidationError,
)
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from certification.certificates import appeals as certificate_appeals
from certification.certificates import concerns as certificate_concerns
from certification.certificates import keys as certificate_keys
from certification.certificates import lineage, registry, signing, verify_cache
from certification.certificates import services as certificate_services
from certification.certificates.models import Appeal, Certificate, ConcernReport, ModelSignature
from certification.framework import services as framework_services
from certification.releases.api import (
    ApplicationActions,
    ApplicationSerializer,
    ReasonsSerializer,
)
from certification.releases.models import Application, Upstream
from portal import audit, organizations
from portal.api_auth import requires_scope
from portal.validators import plain_text

app_name = "registry-api"


class RegistryRateThrottle(SimpleRateThrottle):
    """Per client address; the rate is DEFAULT_THROTTLE_RATES["registry"] when set."""

    scope = "registry"

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope) or "120/minute"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def cors(response: HttpResponse) -> HttpResponse:
    response["Access-Control-Allow-Origin"] = "*"
    response["Access-Control-Expose-Headers"] = "ETag, Last-Modified"
    return response


def conditional(request, body: bytes, content_type: str, last_modified=None) -> HttpResponse:
    """A response with a strong ETag over its bytes; 304 when the client has them."""
    etag = '"' + hashlib.sha256(body).hexdigest()[:40] + '"'
    timestamp = int(last_modified.timestamp()) if last_modified else None
    response = get_conditional_response(request, etag=etag, last_modified=timestamp)
    if response is None:
        response = HttpResponse(body, content_type=content_type)
    response["ETag"] = etag
    if timestamp is not None:
        response["Last-Modified"] = http_date(timestamp)
    response["Cache-Control"] = "no-cache"
    return cors(response)


def json_bytes(data) -> bytes:
    return json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":")).encode()


class PublicView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [RegistryRateThrottle]
    # JSON only: the answers are built as bytes; one renderer keeps content negotiation cheap.
    renderer_classes = [JSONRenderer]

    def options(self, request, *args, **kwargs):
        response = super().options(request, *args, **kwargs)
        response["Access-Control-Allow-Methods"] = "GET, OPTIONS"
        response["Access-Control-Allow-Headers"] = "If-None-Match, If-Modified-Since"
        return cors(response)

    def handle_exception(self, exc):
        return cors(super().handle_exception(exc))


def _bad(exc: registry.BadQuery):
    raise ValidationError({exc.field: [str(exc)]})


# --- schema shapes --------------------------------------------------------------------------------

class OrganizationRef(serializers.Serializer):
    name = serializers.CharField()
    slug = serializers.CharField()


class ModelRef(serializers.Serializer):
    name = serializers.CharField()
    slug = serializers.CharField()
    hub_repo_id = serializers.CharField(help_text=gettext_lazy("As named at issue; may be empty"))


class ReleaseRef(serializers.Serializer):
    version = serializers.CharField()
    hub_revision = serializers.CharField(help_text=gettext_lazy("As named at issue; may be empty"))


class CertificateSummarySerializer(serializers.Serializer):
    number = serializers.CharField()
    status = serializers.ChoiceField(choices=registry.STATUSES, help_text=gettext_lazy("As of this request; expired is "
                                                                                       "computed"))
    tier = serializers.IntegerField(min_value=1, max_value=4)
    framework_version = serializers.CharField()
    organization = OrganizationRef()
    model = ModelRef()
    release = ReleaseRef()
    issued_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField(help_text=gettext_lazy("Last status change"))
    url = serializers.URLField(help_text=gettext_lazy("The public certificate page"))


class DsseSignatureSerializer(serializers.Serializer):
    keyid = serializers.CharField()
    sig = serializers.CharField(help_text=gettext_lazy("base64 Ed25519 signature over the DSSE PAE"))


class EnvelopeSerializer(serializers.Serializer):
    payloadType = serializers.CharField()
    payload = serializers.CharField(help_text=gettext_lazy("base64 of the signed payload (canonical JSON)"))
    signatures = DsseSignatureSerializer(many=True)


class ArtifactRefSerializer(serializers.Serializer):
    path = serializers.CharField()
    size = serializers.IntegerField(allow_null=True)
    sha256 = serializers.CharField()


class CertificateDetailSerializer(CertificateSummarySerializer):
    artifacts = ArtifactRefSerializer(many=True, help_text=gettext_lazy("The subjects of the signed statement"))
    attestation = EnvelopeSerializer(
        allow_null=True, help_text=gettext_lazy("The DSSE envelope (payloadType application/vnd.in-toto+json) as "
                                                "signed; null only until an older certificate is signed"))


class CertificateListSerializer(serializers.Serializer):
    results = CertificateSummarySerializer(many=True)
    next = serializers.URLField(allow_null=True, help_text=gettext_lazy("The next page, or null on the last page"))


class LineageLinkSerializer(serializers.Serializer):
    derivative = serializers.CharField(help_text=gettext_lazy("The certificate whose release declares this upstream"))
    depth = serializers.IntegerField(help_text=gettext_lazy("1 for the looked-up certificate's own upstreams, 2 for "
                                                            "theirs..."))
    relation = serializers.ChoiceField(choices=Upstream.Relation.choices)
    named_by = serializers.ChoiceField(choices=Upstream.Kind.choices, help_text=gettext_lazy("How the upstream was "
                                                                                             "declared"))
    value = serializers.CharField(help_text=gettext_lazy("The certificate number, hub repo id or sha256 as declared"))
    status = serializers.ChoiceField(choices=[*lineage.STATUSES, "superseded"])
    flags = serializers.ListField(child=serializers.ChoiceField(choices=lineage.FLAGS),
                                  help_text=gettext_lazy("suspended, revoked, lower_tier (certified below the "
                                                         "derivative's tier)"))
    certificate = CertificateSummarySerializer(allow_null=True, help_text=gettext_lazy("The upstream's certificate, if "
                                                                                       "any"))


LINEAGE_FLAGS = lineage.FLAGS


class VerifyResultSerializer(serializers.Serializer):
    verified = serializers.BooleanField(help_text=gettext_lazy("True only when a matching certificate is valid"))
    status = serializers.ChoiceField(choices=[*registry.STATUSES, "not_found"],
                                     help_text=gettext_lazy("The best status among the matches"))
    certificates = CertificateSummarySerializer(many=True)
    lineage = LineageLinkSerializer(many=True, required=False, help_text=gettext_lazy("With lineage=1: every link of "
                                                                                      "the chain, breadth first"))
    lineage_flags = serializers.ListField(child=serializers.ChoiceField(choices=LINEAGE_FLAGS), required=False,
                                          help_text=gettext_lazy("With lineage=1: every flag raised along the chain"))


class VerificationKeySerializer(serializers.Serializer):
    keyid = serializers.CharField(help_text=gettext_lazy("sha256: + hex of the sha256 of the raw public key"))
    algorithm = serializers.ChoiceField(choices=["ed25519"])
    public_key = serializers.CharField(help_text=gettext_lazy("base64 of the raw 32-byte Ed25519 public key"))
    valid_from = serializers.DateTimeField()
    valid_until = serializers.DateTimeField(allow_null=True)


class ModelSigningKeySerializer(serializers.Serializer):
    keyid = serializers.CharField(help_text=gettext_lazy("sha256: + hex of the sha256 of the PEM below: a "
                                                         "model-signing bundle's verificationMaterial.publicKey.hint, "
                                                         "prefixed"))
    algorithm = serializers.ChoiceField(choices=[certificate_keys.MODEL_SIGNING_ALGORITHM])
    public_key_pem = serializers.CharField(help_text=gettext_lazy("SubjectPublicKeyInfo PEM, as `model_signing verify "
                                                                  "key --public_key` reads it"))
    valid_from = serializers.DateTimeField()
    valid_until = serializers.DateTimeField(allow_null=True)


class KeyListSerializer(serializers.Serializer):
    keys = VerificationKeySerializer(many=True, help_text=gettext_lazy("The Ed25519 keys of attestations and "
                                                                       "revocation lists"))
    model_signing_keys = ModelSigningKeySerializer(
        many=True, help_text=gettext_lazy("The ECDSA P-256 keys of the OpenSSF model-signing bundles"))


class BundleSignatureSerializer(serializers.Serializer):
    sig = serializers.CharField(help_text=gettext_lazy("base64 DER ECDSA P-256 SHA-256 signature over the DSSE PAE"))
    keyid = serializers.CharField(allow_blank=True, help_text=gettext_lazy("Empty, as model_signing writes it"))


class BundleEnvelopeSerializer(serializers.Serializer):
    payload = serializers.CharField(help_text=gettext_lazy("base64 of the in-toto Statement (predicate type "
                                                           "https://model_signing/signature/v1.0)"))
    payloadType = serializers.CharField()
    signatures = BundleSignatureSerializer(many=True)


class BundlePublicKeySerializer(serializers.Serializer):
    hint = serializers.CharField(help_text=gettext_lazy("hex sha256 of the signing key's PEM"))


class BundleMaterialSerializer(serializers.Serializer):
    publicKey = BundlePublicKeySerializer()
    tlogEntries = serializers.ListField(child=serializers.DictField(), help_text=gettext_lazy("Always empty (no "
                                                                                              "transparency log)"))


class ModelSigningBundleSerializer(serializers.Serializer):
    mediaType = serializers.CharField(help_text=gettext_lazy("application/vnd.dev.sigstore.bundle.v0.3+json"))
    verificationMaterial = BundleMaterialSerializer()
    dsseEnvelope = BundleEnvelopeSerializer()


FILTERS = [
    OpenApiParameter("q", str, description=gettext_lazy("Search number, organization, model, hub repo id or release "
                                                        "version")),
    OpenApiParameter("organization", str, description=gettext_lazy("Organization slug")),
    OpenApiParameter("tier", int, enum=[1, 2, 3, 4]),
    OpenApiParameter("status", str, enum=list(registry.STATUSES)),
    OpenApiParameter("framework_version", str, description=gettext_lazy("e.g. 2025.1")),
    OpenApiParameter("updated_since", OpenApiTypes.DATETIME,
                     description=gettext_lazy("Change feed: certificates changed at or after this time, oldest change "
                                              "first")),
    OpenApiParameter("built_on", str, description=gettext_lazy("Only releases that declare this upstream model: a "
                                                               "certificate number, hub repo id or file sha256 of it "
                                                               "(any of its certificates)")),
    OpenApiParameter("cursor", str, description=gettext_lazy("Opaque; from the previous page's next")),
]
CONDITIONAL = [
    OpenApiParameter("If-None-Match", str, OpenApiParameter.HEADER, description=gettext_lazy("An ETag from an earlier "
                                                                                             "answer")),
    OpenApiParameter("If-Modified-Since", str, OpenApiParameter.HEADER),
]
# The errors (400, 404, 429; bodies as DRF sends them) are added by portal.schema.AutoSchema.
COMMON = {304: OpenApiResponse(description=gettext_lazy("Not modified"))}


# --- public views ------------------------------------------------------------------------------------


class CertificateListView(PublicView):
    @extend_schema(operation_id="certificates_list", summary=gettext_lazy("The registry of certificates"),
                   parameters=FILTERS + CONDITIONAL, responses={200: CertificateListSerializer, **COMMON},
                   auth=[], tags=["public"])
    def get(self, request):
        try:
            qs = registry.search(request.query_params)
            change_feed = bool(request.query_params.get("updated_since"))
            page = registry.paginate(qs, request.query_params.get("cursor"), registry.API_PAGE_SIZE, change_feed)
        except registry.BadQuery as exc:
            _bad(exc)
        next_url = None
        if page.next_cursor:
            params = request.query_params.copy()
            params["cursor"] = page.next_cursor
            next_url = request.build_absolute_uri(request.path) + "?" + params.urlencode()
        body = json_bytes({"results": [registry.summary(c) for c in page.rows], "next": next_url})
        return conditional(request, body, "application/json", registry.last_modified(page.rows))


class CertificateDetailView(PublicView):
    @extend_schema(operation_id="certificates_retrieve", summary=gettext_lazy("One certificate with its signed "
                                                                              "attestation"),
                   parameters=CONDITIONAL, responses={200: CertificateDetailSerializer, **COMMON},
                   auth=[], tags=["public"])
    def get(self, request, number: str):
        cert = registry.base_queryset().prefetch_related("subjects").filter(number=number.upper()).first()
        if cert is None:
            raise NotFound(_("No certificate has this number."))
        body = json_bytes(registry.detail(cert))
        return conditional(request, body, "application/json", registry.last_modified([cert]))


VERIFY_PARAMS = ("certificate", "sha256", "model")


class VerifyView(PublicView):
    @extend_schema(
        operation_id="verify", summary=gettext_lazy("Verify a certificate by number, artifact sha256 or hub repo id"),
        description=gettext_lazy("Give exactly one of the parameters. `verified` is true only when a matching "
                                 "certificate is valid (not suspended, revoked, expired or superseded); when several "
                                 "match, all are listed and `status` is the best of them (`not_found` when none match)."),
        parameters=[
            OpenApiParameter("certificate", str,
                             description=gettext_lazy("Certificate number, e.g. RRC-2025-7K3M9Q2D")),
            OpenApiParameter("sha256", str, description=gettext_lazy("sha256 hex of an artifact file")),
            OpenApiParameter("model", str, description=gettext_lazy("Hub repo id, optionally @revision: "
                                                                    "acme/acme-7b@main")),
            OpenApiParameter("lineage", str, enum=["0", "1"], description=gettext_lazy("1: add `lineage`, every "
                                                                                       "upstream of the matching "
                                                                                       "certificates and theirs in "
                                                                                       "turn, each with its status and "
                                                                                       "flags (not cached)")),
            *CONDITIONAL,
        ],
        responses={200: VerifyResultSerializer, **COMMON}, auth=[], tags=["public"])
    def get(self, request, cache_read: verify_cache.Read | None = None):
        params = request.query_params
        given = [name for name in VERIFY_PARAMS if params.get(name)]
        if len(given) != 1:
            raise ValidationError({"non_field_errors": [_("Give exactly one of certificate, sha256 or model.")]})
        kind, value = given[0], params[given[0]]
        if wants_lineage(params):
            return self.lineage(request, kind, value)

        def compute(at):
            try:
                certs = registry.verify_lookup(**{kind: value})
            except registry.BadQuery as exc:
                _bad(exc)
            modified = registry.last_modified(certs, at)
            return json_bytes(registry.verify_result(certs, at)), certs, modified.timestamp() if modified else None

        return verify_response(request, verify_cache.answer(kind, value, compute, cache_read))

    def lineage(self, request, kind: str, value: str) -> HttpResponse:
        """The answer with its whole chain. Not cached: it depends on the status of every upstream,
        which the lookup's version tokens do not follow; a fixed number of queries at any depth."""
        try:
            certs = registry.verify_lookup(**{kind: value})
        except registry.BadQuery as exc:
            _bad(exc)
        at = timezone.now()
        links = lineage.chain(certs, at)
        data = registry.verify_result(certs, at)
        data["lineage"] = [link.as_json(at) for link in links]
        data["lineage_flags"] = sorted({f for link in links for f in link.flags}, key=lineage.FLAGS.index)
        modified = registry.last_modified([*certs, *(link.certificate for link in links if link.certificate)], at)
        return conditional(request, json_bytes(data), "application/json", modified)


def wants_lineage(params) -> bool:
    value = params.get("lineage", "")
    if value not in ("", "0", "1"):
        raise ValidationError({"lineage": [_("lineage is 1 (add the chain of upstream models) or 0.")]})
    return value == "1"


def verify_view():
    """``VerifyView`` behind a fast path: a GET whose answer is in the cache is answered here,
    one cache round trip, without DRF's request wrapping, negotiation and throttle (two more
    cache round trips, and most of the time of a hit). Anything else goes to the DRF view."""
    drf_view = VerifyView.as_view()

    @functools.wraps(drf_view)  # keeps cls, initkwargs and csrf_exempt for the router and the schema
    def view(request, *args, **kwargs):
        # ``VerifyCacheMiddleware`` read the cache already (and answered a hit); else read it here.
        cache_read = getattr(request, "verify_cache_read", None) or read_verify_cache(request)
        if cache_read is not None:
            if cache_read.answer is not None:
                return verify_response(request, cache_read.answer)
            # A miss: the view computes the answer under the token just read.
            kwargs["cache_read"] = cache_read
        return drf_view(request, *args, **kwargs)

    return view


def read_verify_cache(request) -> verify_cache.Read | None:
    """The cache read of a cacheable verify request (a GET naming one lookup), else None."""
    # A lineage answer is never cached (``VerifyView.lineage``).
    if request.method != "GET" or request.GET.get("lineage", "") not in ("", "0"):
        return None
    given = [name for name in VERIFY_PARAMS if request.GET.get(name)]
    if len(given) != 1:
        return None
    return verify_cache.read(given[0], request.GET[given[0]])


def verify_response(request, answer: verify_cache.Answer) -> HttpResponse:
    """A cached verify answer with its ETag; 304 when the client has it. Clients and proxies may
    keep it for a minute, never past the next expiry of a certificate it lists."""
    timestamp = int(answer.last_modified) if answer.last_modified is not None else None
    response = get_conditional_response(request, etag=answer.etag, last_modified=timestamp)
    if response is None:
        response = HttpResponse(answer.body, content_type="application/json")
    response["ETag"] = answer.etag
    if timestamp is not None:
        response["Last-Modified"] = http_date(timestamp)
    response["Cache-Control"] = f"public, max-age={answer.max_age(time.time())}"
    return cors(response)


class KeysView(PublicView):
    @extend_schema(operation_id="keys", summary=gettext_lazy("The published verification keys, with validity periods"),
                   parameters=CONDITIONAL, responses={200: KeyListSerializer, **COMMON}, auth=[], tags=["public"])
    def get(self, request):
        body = json_bytes(certificate_keys.published())
        return conditional(request, body, "application/json")


class ModelSignatureView(PublicView):
    @extend_schema(
        operation_id="certificates_model_signature", summary=gettext_lazy("The certificate's OpenSSF model-signing "
                                                                          "bundle"),
        description=gettext_lazy("The signature file `model_signing verify key --signature <number>.sig --public_key "
                                 "alliance.pub ./model-dir` checks a model directory against: a Sigstore bundle whose "
                                 "DSSE payload lists the certified files with their sha256, signed with the portal's "
                                 "ECDSA P-256 key (`model_signing_keys` of `/api/v1/keys/`). Served byte for byte as "
                                 "issued. 404 for a certificate that certifies no file. A bundle says which files were "
                                 "certified, not whether the certificate still counts: ask `/api/v1/verify/` or the "
                                 "signed revocation list."),
        parameters=CONDITIONAL, responses={200: ModelSigningBundleSerializer, **COMMON}, auth=[], tags=["public"])
    def get(self, request, number: str):
        cert = Certificate.objects.filter(number=number.upper()).only("id").first()
        if cert is None:
            raise NotFound(_("No certificate has this number."))
        row = ModelSignature.objects.filter(certificate=cert).only("bundle", "created_at").first()
        if row is None:
            raise NotFound(_("This certificate certifies no file, so it has no model-signing bundle."))
        return conditional(request, bytes(row.bundle), "application/json", row.created_at)


class RevocationsView(PublicView):
    @extend_schema(
        operation_id="revocations", summary=gettext_lazy("Signed list of revoked and suspended certificates"),
        description=f"A DSSE envelope (payloadType `{signing.REVOCATIONS_PAYLOAD_TYPE}`) signed with the "
                    "current key. Its payload lists every revoked and suspended certificate, the time of the latest "
                    "status change (`as_of`) and the latest published audit-log head.",
        parameters=CONDITIONAL, responses={200: EnvelopeSerializer, **COMMON}, auth=[], tags=["public"])
    def get(self, request):
        body = signing.revocation_list()
        return conditional(request, body, "application/json")


# --- public: report a concern ------------------------------------------------------------------------


class ConcernInput(serializers.Serializer):
    summary = serializers.CharField(max_length=200, validators=[plain_text],
                                    help_text=gettext_lazy("The incident's title: public once the incident is resolved"))
    details = serializers.CharField(help_text=gettext_lazy("Private: for the organization and Alliance staff only"))
    severity = serializers.ChoiceField(choices=ConcernReport.Severity.choices, required=False, allow_blank=True,
                                       help_text=gettext_lazy("Your rating; leave it out to let staff rate the incident"))
    reporter_email = serializers.EmailField(required=False, allow_blank=True,
                                            help_text=gettext_lazy("To be told when the organization acknowledges, "
                                                                   "investigates and resolves it"))


class ConcernView(APIView):
    """Anyone may report a concern about a certified release (rate limited per address)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [RegistryRateThrottle]

    @extend_schema(operation_id="certificates_concern", summary=gettext_lazy("Report a concern about a certified "
                                                                             "release"),
                   description=gettext_lazy("The concern becomes an incident the organization acknowledges, "
                                            "investigates and resolves (`/api/v1/incidents/`); its public history is "
                                            "at `/api/v1/certificates/{number}/incidents/`."),
                   request=ConcernInput,
                   responses={201: inline_serializer("ConcernAccepted", {"id": serializers.IntegerField()})},
                   auth=[], tags=["public"])
    def post(self, request, number: str):
        cert = Certificate.objects.select_related("organization").filter(number=number.upper()).first()
        if cert is None:
            raise NotFound(_("No certificate has this number."))
        data = ConcernInput(data=request.data)
        data.is_valid(raise_exception=True)
        if not certificate_concerns.concern_allowed(audit.client_ip(request)):
            raise Throttled(detail=_("Too many concern reports from your address; try again later."))
        try:
            concern = certificate_concerns.report_concern(cert, request=request, **data.validated_data)
        except framework_services.WorkflowError as exc:
            raise ValidationError(exc.errors) from exc
        return Response({"id": concern.pk}, status=201)


# --- authenticated actions ---------------------------------------------------------------------------


class ReasonInput(serializers.Serializer):
    reason = serializers.CharField()


class StatusOutput(serializers.Serializer):
    number = serializers.CharField()
    status = serializers.CharField()


def _cert(number: str) -> Certificate:
    cert = Certificate.objects.select_related("organization", "release", "application").filter(
        number=number.upper()).first()
    if cert is None:
        raise NotFound()
    return cert


def _status(cert: Certificate) -> Response:
    cert.refresh_from_db()
    return Response({"number": cert.number, "status": cert.effective_status()})


class CertificateActionView(APIView):
    """Staff: suspend, reinstate, propose or confirm a revocation, cancel a proposal."""

    token_scope = "staff"

    verb = ""

    @extend_schema(request=ReasonInput, responses=StatusOutput, tags=["certificates"])
    def post(self, request, number: str):
        if not request.user.is_alliance_staff:
            raise PermissionDenied(_("Only Alliance staff may do this."))
        cert = _cert(number)
        reason = request.data.get("reason", "") if hasattr(request.data, "get") else ""
        try:
            if self.verb == "suspend":
                certificate_services.suspend(cert, request.user, reason, request=request)
            elif self.verb == "reinstate":
                certificate_services.reinstate(cert, request.user, reason, request=request)
            elif self.verb == "revoke":
                # The first staff member proposes (with the reason); another confirms.
                if certificate_services.open_revocation(cert) is None:
                    certificate_services.propose_revocation(cert, request.user, reason, request=request)
                else:
                    certificate_services.confirm_revocation(cert, request.user, request=request)
            elif self.verb == "cancel-revocation":
                certificate_services.cancel_revocation(cert, request.user, request=request)
        except framework_services.WorkflowError as exc:
            raise ValidationError(exc.errors) from exc
        return _status(cert)


class RenewView(APIView):
    @extend_schema(request=None, responses=inline_serializer("RenewalStarted", {
        "application": serializers.IntegerField(), "previous": serializers.IntegerField()}), tags=["certificates"])
    def post(self, request, number: str):
        cert = _cert(number)
        if not organizations.is_org_member(request.user, cert.organization) and not request.user.is_alliance_staff:
            raise NotFound()
        try:
            app = certificate_services.start_renewal(cert, request.user, request=request)
        except framework_services.WorkflowError as exc:
            raise ValidationError(exc.errors) from exc
        return Response({"application": app.pk, "previous": app.previous_id}, status=201)


class AppealInput(serializers.Serializer):
    grounds = serializers.CharField()


class AppealDecisionInput(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=["grant", "deny"])
    reasons = serializers.CharField()


AppealOutput = inline_serializer("AppealState", {
    "id": serializers.IntegerField(), "application": serializers.IntegerField(),
    "status": serializers.ChoiceField(choices=Appeal.Status.values),
    "application_status": serializers.CharField(), "votes": serializers.IntegerField()})


def _appeal_data(appeal: Appeal) -> Response:
    appeal.refresh_from_db()
    app_status = Application.objects.filter(pk=appeal.application_id).values_list("status", flat=True).first()
    return Response({"id": appeal.pk, "application": appeal.application_id, "status": appeal.status,
                     "application_status": app_status, "votes": appeal.votes.count()})


class AppealFileView(APIView):
    @extend_schema(request=AppealInput, responses={201: AppealOutput}, tags=["appeals"])
    def post(self, request, pk: int):
        app = Application.objects.visible_to(request.user).select_related("release__ai_model__organization").filter(
            pk=pk).first()
        if app is None:
            raise NotFound()
        data = AppealInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            appeal = certificate_appeals.file_appeal(app, request.user, data.validated_data["grounds"], request=request)
        except framework_services.WorkflowError as exc:
            raise ValidationError(exc.errors) from exc
        response = _appeal_data(appeal)
        response.status_code = 201
        return response


class AppealDecideView(APIView):
    token_scope = "staff"

    @extend_schema(request=AppealDecisionInput, responses=AppealOutput, tags=["appeals"])
    def post(self, request, pk: int):
        if not request.user.is_alliance_staff:
            raise PermissionDenied(_("Only Alliance staff may do this."))
        appeal = Appeal.objects.select_related("application__framework_version", "application__release").filter(
            pk=pk).first()
        if appeal is None:
            raise NotFound()
        data = AppealDecisionInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            certificate_appeals.decide_appeal(appeal, request.user, data.validated_data["outcome"],
                                       data.validated_data["reasons"], request=request)
        except framework_services.WorkflowError as exc:
            raise ValidationError(exc.errors) from exc
        return _appeal_data(appeal)


urlpatterns = [
    path("certificates/", CertificateListView.as_view(), name="certificate-list"),
    path("certificates/<str:number>/", CertificateDetailView.as_view(), name="certificate-detail"),
    path("certificates/<str:number>/concerns/", ConcernView.as_view(), name="certificate-concern"),
    path("certificates/<str:number>/model-signature/", ModelSignatureView.as_view(),
         name="certificate-model-signature"),
    path("certificates/<str:number>/suspend/", CertificateActionView.as_view(verb="suspend"),
         name="certificate-suspend"),
    path("certificates/<str:number>/reinstate/", CertificateActionView.as_view(verb="reinstate"),
         name="certificate-reinstate"),
    path("certificates/<str:number>/revoke/", CertificateActionView.as_view(verb="revoke"),
         name="certificate-revoke"),
    path("certificates/<str:number>/cancel-revocation/", CertificateActionView.as_view(verb="cancel-revocation"),
         name="certificate-cancel-revocation"),
    path("certificates/<str:number>/renew/", RenewView.as_view(), name="certificate-renew"),
    path("applications/<int:pk>/appeal/", AppealFileView.as_view(), name="application-appeal"),
    path("appeals/<int:pk>/decide/", AppealDecideView.as_view(), name="appeal-decide"),
    path("verify/", verify_view(), name="verify"),
    path("keys/", KeysView.as_view(), name="keys"),
    path("revocations/", RevocationsView.as_view(), name="revocations"),
]


class DecisionViewSet(ApplicationActions):
    """The staff decision on an application awaiting it (one approval for Tier 1/2, two
    distinct staff for Tier 3/4), at ``/api/v1/applications/<id>/approve/`` and ``reject/``."""

    @extend_schema(request=None, responses=ApplicationSerializer)
    @action(detail=True, methods=["post"])
    @requires_scope("staff")
    def approve(self, request, pk=None):
        self._staff()
        return self._do(certificate_services.approve)

    @extend_schema(request=ReasonsSerializer, responses=ApplicationSerializer)
    @action(detail=True, methods=["post"])
    @requires_scope("staff")
    def reject(self, request, pk=None):
        self._staff()
        serializer = ReasonsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._do(certificate_services.reject, serializer.validated_data["reasons"])


decision_router = SimpleRouter()
decision_router.register("applications", DecisionViewSet, basename="application")
decision_urlpatterns = decision_router.urls
