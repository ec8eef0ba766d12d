"""The notice to certificate holders when a new framework version comes into force (issue 16 §3).

Publishing a version (``framework.services.publish_framework_version``) opens a
``framework_effective`` deadline on it, due at its effective date, through the hook below. When
the sweep reaches it, every organization with a valid certificate is notified once, with what
changes for each of its certificates at renewal: the release's tier under the new rules (as
``start_renewal`` would compute it), the requirements new to it, the ones that change or fall
away, new attestation statements and the validity. Computed per certificate from the two
versions' rules (``framework.changes.renewal_impact``), never a generic text.

Applications already created keep their version; a renewal started from the effective date on
binds to the new one (``start_renewal`` takes the version in force).
"""

from __future__ import annotations

from django.urls import reverse

from certification.certificates.models import Certificate
from certification.framework import changes, tiers
from certification.framework import services as framework_services
from certification.framework.models import FrameworkVersion
from certification.releases import services as release_services
from portal import audit, deadlines, organizations
from portal.notifications import notify

KIND = "framework_effective"


def impact_of(cert: Certificate, fv: FrameworkVersion) -> dict:
    """What ``cert`` meets when it is renewed under ``fv``."""
    refused: list[str] = []
    try:
        new_tier = release_services.effective_tier(cert.release, fv.rules)
    except tiers.ClassificationError as exc:
        # The new rules refuse some of the release's facts (a capability they no longer list...):
        # the organization updates them at renewal; until then the tier stays the certified one.
        refused = sorted(exc.errors)
        new_tier = cert.tier
    impact = changes.renewal_impact(cert.framework_version.rules, cert.tier, fv.rules, new_tier)
    impact["facts_to_update"] = [changes.key_label(field) for field in refused]
    impact["nothing_changes"] = impact["nothing_changes"] and not refused
    return impact


def holders(fv: FrameworkVersion, at) -> dict:
    """``{organization: [(certificate, impact), ...]}`` for every certificate valid at ``at``
    granted under another version, in certificate number order."""
    certs = (Certificate.objects.valid(at).exclude(framework_version=fv)
             .select_related("release", "release__ai_model", "organization", "framework_version")
             .order_by("organization__name", "number"))
    grouped: dict = {}
    for cert in certs:
        grouped.setdefault(cert.organization, []).append((cert, impact_of(cert, fv)))
    return grouped


def _effective_due(deadline, fv) -> None:
    fv.refresh_from_db()
    if not fv.is_published:
        return
    url = reverse("certification:framework-changes", args=[fv.version])
    grouped = holders(fv, deadline.due_at)
    for org, entries in grouped.items():
        notify(organizations.org_admins(org), "framework-version-effective",
               {"version": fv, "organization": org, "entries": entries}, url=url)
    audit.log("certification.framework.holders_notified", obj=fv,
              payload={"organizations": len(grouped), "certificates": sum(len(e) for e in grouped.values())})


def open_notice(fv: FrameworkVersion) -> None:
    """Hook of ``publish_framework_version`` (inside its transaction)."""
    deadlines.open_deadline(fv, KIND, fv.effective_from)


framework_services.VERSION_PUBLISHED_HOOKS.append(open_notice)

deadlines.register(deadlines.DeadlineKind(
    KIND, (), None, _effective_due, title="New framework version in force",
    description="On a version's effective date, every organization with a valid certificate is told what "
                "changes for each certificate at renewal.",
))
