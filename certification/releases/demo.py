"""The certification part of the demo story: models and releases of Acme AI and
Other Models Lab in every state of the workflow, across the four tiers."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from certification.releases import applications, sample
from certification.releases import services as release_services
from certification.releases.models import AIModel, Application, Release
from portal import deadlines
from portal.models import Deadline, Organization, User

S = Application.Status

# (org slug, model slug, model name, hub repo, release version, facts, target state)
STORY = [
    ("acme-ai", "acme-small", "Acme Small", "acme/acme-small", "1.0", {"parameter_count": 480_000_000}, S.CERTIFIED),
    ("acme-ai", "acme-mid", "Acme Mid", "acme/acme-mid-7b", "2.0", {"parameter_count": 7_000_000_000}, S.CERTIFIED),
    ("acme-ai", "acme-mid", "Acme Mid", "acme/acme-mid-7b", "2.1", {"parameter_count": 7_200_000_000}, S.DRAFT),
    ("acme-ai", "acme-mid", "Acme Mid", "acme/acme-mid-7b", "2.2-rc", {"parameter_count": 7_300_000_000}, S.SUBMITTED),
    ("acme-ai", "acme-large", "Acme Large", "acme/acme-large",
     "1.0", {"parameter_count": 120_000_000_000, "capabilities": ["advanced_reasoning", "code_generation"]}, S.IN_REVIEW),
    ("acme-ai", "acme-bio", "Acme Bio", "acme/acme-bio",
     "0.9", {"parameter_count": 13_000_000_000, "sensitive_domains": ["biology"]}, S.CHANGES_REQUESTED),
    ("acme-ai", "acme-tiny", "Acme Tiny", "acme/acme-tiny", "0.1", {"parameter_count": 60_000_000}, S.WITHDRAWN),
    ("acme-ai", "acme-tiny", "Acme Tiny", "acme/acme-tiny", "0.2", {"parameter_count": 65_000_000}, S.REJECTED),
    ("acme-ai", "acme-tiny", "Acme Tiny", "acme/acme-tiny", "0.3", {"parameter_count": 70_000_000}, S.DECISION_PENDING),
    ("acme-ai", "acme-tiny", "Acme Tiny", "acme/acme-tiny", "0.4", {"parameter_count": 72_000_000}, S.LAPSED),
    ("other-models", "other-coder", "Other Coder", "othermodels/coder-1b",
     "1.0", {"parameter_count": 1_300_000_000}, S.SCREENING),
]

ORDER = [S.DRAFT, S.SUBMITTED, S.SCREENING, S.IN_REVIEW, S.DECISION_PENDING, S.CERTIFIED]


def _advance(app: Application, target: str, admin: User, staff: User) -> None:
    if target == S.DRAFT:
        return
    applications.submit_application(app, admin, signer_name=admin.display_name, signer_title="Head of Responsible AI",
                                affirmed=[1, 2, 3, 4, 5, 6])
    if target == S.WITHDRAWN:
        applications.withdraw(app, admin)
        return
    if target == S.SUBMITTED:
        return
    applications.start_screening(app, staff)
    if target == S.CHANGES_REQUESTED:
        applications.request_changes(app, staff, {
            "domain_risk_assessments": "Describe the biosecurity uplift evaluation and its mitigations.",
            "rollout_plan": "Add the dates of each stage."})
        return
    if target == S.LAPSED:
        applications.request_changes(app, staff, {"model_card": "State the known limitations in more detail."})
        # The organization never answered: run the deadline as if 60 days had passed.
        past = timezone.now() - timedelta(minutes=1)
        Deadline.objects.for_object(app).update(due_at=past, next_action_at=past)
        deadlines.sweep()
        return
    if target == S.SCREENING:
        return
    applications.accept_into_review(app, staff)
    if target == S.IN_REVIEW:
        return
    if (app.tier or 1) <= 2:
        applications.complete_review(app, staff)
    # CERTIFIED and REJECTED rows stop here too: the decision is the certificates' step
    # (``certification.certificates.demo.decide_story``).


@transaction.atomic
def load(admins: dict[str, User], staff: User) -> None:
    for org_slug, model_slug, model_name, hub, version, facts, target in STORY:
        org = Organization.objects.get(slug=org_slug)
        admin = admins[org_slug]
        model = AIModel.objects.filter(organization=org, slug=model_slug).first() or release_services.register_model(
            org, admin, name=model_name, slug=model_slug, hub_repo_id=hub, modalities=["text"],
            description=f"{model_name}, a demo model of {org.name}.")
        if Release.objects.filter(ai_model=model, version=version).exists():
            continue
        data = {"version": version, "capabilities": [], "sensitive_domains": [], "emergent_capabilities": False,
                "emergent_description": "", **facts}
        release = release_services.create_release(model, admin, data, artifacts=[
            {"path": f"model-0000{i}-of-00002.safetensors", "size": 4_000_000_000 + i,
             "sha256": hashlib.sha256(f"{model_slug}-{version}-{i}".encode()).hexdigest()} for i in (1, 2)])
        if target != S.DRAFT:
            sample.fill_documentation(release, admin)
        else:
            release_services.update_section(release, admin, "model_card", sample.SECTIONS["model_card"])
        app = applications.start_application(release, admin)
        _advance(app, target, admin, staff)


def step(story) -> None:
    load(story.admins, story.staff)
