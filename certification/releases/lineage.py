"""A release's upstream models (issue 16 §1): declaring and removing them while the release can
change. The browser (``views/lineage.py``) and the API (``api.py``, ``/releases/<id>/upstreams/``)
call these functions.

Resolving a declaration to a certificate is the certificates layer's work
(``certification.certificates.lineage``), a layer above this one: it registers its resolver here
(``register_resolver``) in ``AppConfig.ready()``, and the release and screening pages ask
``resolve`` without importing it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from certification.framework.services import WorkflowError
from certification.releases.models import Release, Upstream
from certification.releases.services import ensure_release_editable
from portal import audit
from portal.models import User
from portal.validators import plain_text

# Enough for a merge of many models; a list longer than this is a mistake.
MAX_UPSTREAMS = 20
CERTIFICATE_NUMBER = re.compile(r"[A-Z0-9][A-Z0-9-]{2,39}")
HUB_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
SHA256 = re.compile(r"[0-9a-f]{64}")

KIND_HINTS = {
    Upstream.Kind.CERTIFICATE: gettext_lazy("a certificate number such as RRC-2025-7K3M9Q2D"),
    Upstream.Kind.MODEL: gettext_lazy("a hub repository id such as acme/acme-7b"),
    Upstream.Kind.SHA256: gettext_lazy("the 64 hexadecimal digits of a file's sha256"),
}


def normalize(kind: str, value) -> str:
    """The declared value as stored, or WorkflowError naming the field at fault."""
    if kind not in Upstream.Kind.values:
        raise WorkflowError(_("Choose how the upstream is named: certificate number, hub repository id or "
                              "artifact sha256."), field="kind")
    if not isinstance(value, str) or not value.strip():
        raise WorkflowError(_("Give the upstream: %(hint)s.") % {"hint": KIND_HINTS[kind]}, field="value")
    value = value.strip()
    try:
        plain_text(value)
    except ValidationError as exc:
        raise WorkflowError(" ".join(exc.messages), field="value") from None
    if kind == Upstream.Kind.CERTIFICATE:
        value = value.upper()
        pattern = CERTIFICATE_NUMBER
    elif kind == Upstream.Kind.SHA256:
        value = value.lower()
        pattern = SHA256
    else:
        pattern = HUB_REPO_ID
    if not pattern.fullmatch(value):
        raise WorkflowError(_("This is not %(hint)s.") % {"hint": KIND_HINTS[kind]}, field="value")
    return value


def add_upstream(release: Release, actor: User, *, relation: str, kind: str, value, request=None) -> Upstream:
    """Declare one upstream of a release that can still change (a draft or changes requested)."""
    if relation not in Upstream.Relation.values:
        raise WorkflowError(_("Choose the relation: fine-tune of, merge of, distilled from, quantization of or "
                              "adapter for."), field="relation")
    value = normalize(kind, value)
    ensure_release_editable(release)
    hub = release.ai_model.hub_repo_id
    if kind == Upstream.Kind.MODEL and hub and value.lower() == hub.lower():
        raise WorkflowError(_("This is the repository of this release's own model: name the earlier release it "
                              "was built on by its certificate number or a file's sha256."), field="value")
    if kind == Upstream.Kind.SHA256 and release.artifacts.filter(sha256=value).exists():
        raise WorkflowError(_("This is the sha256 of a file of this release itself."), field="value")
    if release.upstreams.filter(kind=kind, value=value).exists():
        raise WorkflowError(_("This upstream is already declared."), field="value")
    if release.upstreams.count() >= MAX_UPSTREAMS:
        raise WorkflowError(_("A release declares at most %(n)d upstream models.") % {"n": MAX_UPSTREAMS},
                            field="value")
    try:
        with transaction.atomic():
            upstream = Upstream.objects.create(release=release, relation=relation, kind=kind, value=value,
                                               created_by=actor)
            audit.log("certification.release.upstream_added", actor=actor, obj=release,
                      organization=release.organization, request=request,
                      payload={"relation": relation, "kind": kind, "value": value})
    except IntegrityError:  # the same declaration sent twice at once
        raise WorkflowError(_("This upstream is already declared."), field="value") from None
    return upstream


def remove_upstream(upstream: Upstream, actor: User, request=None) -> None:
    release = upstream.release
    ensure_release_editable(release)
    with transaction.atomic():
        Upstream.objects.filter(pk=upstream.pk).delete()
        audit.log("certification.release.upstream_removed", actor=actor, obj=release,
                  organization=release.organization, request=request,
                  payload={"relation": upstream.relation, "kind": upstream.kind, "value": upstream.value})


# --- resolution, provided by the certificates layer --------------------------------------------------

Resolver = Callable[[Release, "int | None"], list]
_resolvers: list[Resolver] = []


def register_resolver(resolver: Resolver) -> None:
    if resolver not in _resolvers:
        _resolvers.append(resolver)


def resolve(release: Release, tier: int | None = None) -> list:
    """Each upstream of ``release`` with its certificate, status and flags (``certificates.lineage.Link``);
    ``tier`` is the tier the release's documentation assumes (for the lower-tier flag)."""
    if not _resolvers:
        return []
    return _resolvers[-1](release, tier)
