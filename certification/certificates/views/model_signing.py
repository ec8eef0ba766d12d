"""The model-signing parts of the public pages (issue 18): the certificate's ``<number>.sig`` and the
key that signed it, the certificate page's commands, and the verify page's check of an uploaded
bundle (``certification/certificates/modelsigning.py`` builds and verifies the bundles)."""

from __future__ import annotations

import hashlib

from django import forms
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from certification.certificates import attestations, keys, modelsigning, registry
from certification.certificates.models import Certificate, ModelSignature


class BundleUploadForm(forms.Form):
    signature = forms.FileField(label=gettext_lazy("Model-signing signature file (.sig)"),
                                help_text=gettext_lazy("The signature file a certificate page offers for the "
                                                       "model-signing tool, e.g. RRC-2025-7K3M9Q2D.sig"))


def model_signing_context(cert: Certificate, paths: list[str]) -> dict:
    """The download links and the commands of the certificate page's model-signing section."""
    row = ModelSignature.objects.filter(certificate=cert).only("keyid").first()
    if row is None:
        return {"model_signature": None}
    sig_name, key_name = f"{cert.number}.sig", "alliance.pub"
    # The tool skips git files (.gitattributes...) unless told not to, whatever the bundle says.
    git_files = len(modelsigning.ignore_paths(paths)) < len(modelsigning.DEFAULT_IGNORE_PATHS)
    options = " --no-ignore-git-paths" if git_files else ""
    sig_url = settings.SITE_URL + reverse("certification:certificate-model-signature", args=[cert.number])
    key_url = settings.SITE_URL + reverse("certification:certificate-model-signing-key", args=[cert.number])
    return {
        "model_signature": row,
        "model_signing_download": f"curl -o {key_name} {key_url} \\\n     -o {sig_name} {sig_url}",
        "model_signing_verify": f"model_signing verify key --signature {sig_name} --public_key {key_name}{options} "
                                "./model-dir",
    }


def _model_signature(number: str) -> ModelSignature:
    row = (ModelSignature.objects.filter(certificate__number=number.upper()).select_related("certificate")
           .only("bundle", "keyid", "certificate__number").first())
    if row is None:
        raise Http404
    return row


@require_GET
def certificate_model_signature(request: HttpRequest, number: str) -> HttpResponse:
    """The OpenSSF model-signing bundle, byte for byte as signed, named ``<number>.sig``."""
    row = _model_signature(number)
    data = bytes(row.bundle)
    response = HttpResponse(data, content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{row.certificate.number}.sig"'
    response["ETag"] = '"' + hashlib.sha256(data).hexdigest()[:40] + '"'
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_GET
def certificate_model_signing_key(request: HttpRequest, number: str) -> HttpResponse:
    """The public key (PEM) that signed the certificate's bundle: a retired one after a rotation."""
    row = _model_signature(number)
    key = next((k for k in keys.model_verification_keys() if k.keyid == row.keyid), None)
    if key is None:
        raise Http404
    response = HttpResponse(key.public_key_pem, content_type="application/x-pem-file")
    response["Content-Disposition"] = 'attachment; filename="alliance.pub"'
    response["Access-Control-Allow-Origin"] = "*"
    return response


BUNDLE_PROBLEMS = {
    attestations.VerificationError.UNKNOWN_KEY: gettext_lazy(
        "It was not signed with a key this portal publishes: it is not one of this portal's model-signing "
        "signatures."),
    attestations.VerificationError.BAD_SIGNATURE: gettext_lazy(
        "The signature does not verify against the portal's model-signing keys: the file was changed after it was "
        "signed (its file list, its digests or its signature) or it was signed by someone else."),
    attestations.VerificationError.PAYLOAD_TYPE: gettext_lazy(
        "It does not hold an in-toto statement, so it is not a model-signing signature."),
}


def check_bundle_upload(upload) -> dict:
    """Signature against the portal's P-256 keys first; then the certificates whose certified files are
    exactly the bundle's, with their current status."""
    if upload.size > modelsigning.MAX_BUNDLE_BYTES:
        return {"ok": False, "problem": _("The file is larger than a model-signing signature can be.")}
    published = keys.model_verification_keys()
    try:
        verified = modelsigning.verify_bundle(upload.read(), published)
    except attestations.VerificationError as exc:
        problem = BUNDLE_PROBLEMS.get(exc.reason)
        if problem is None:
            problem = _("The file is not a model-signing signature (%(detail)s).") % {"detail": exc.detail}
        return {"ok": False, "problem": problem}
    certs = modelsigning.certificates_for(verified, published)
    return {"ok": True, "keyid": verified.keyid, "files": verified.resources, "number": verified.subject_name,
            "certificates": certs, "status": registry.verify_result(certs)}
