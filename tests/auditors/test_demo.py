"""The auditor network's demo data: coherent and idempotent."""

from __future__ import annotations

from auditors import demo
from auditors.assignment import suggestions
from auditors.models import Accreditation, Engagement, Offer
from certification.releases.models import Application
from portal import demo as portal_demo
from portal.models import User


def test_demo_story_has_offers_an_engagement_a_filed_report_and_a_conflict(framework, settings, tmp_path):
    portal_demo.load()
    staff = User.objects.get(email="staff@demo.example")
    demo.load(staff)
    demo.load(staff)  # idempotent
    me = Accreditation.objects.get(user__email=demo.DEMO_AUDITOR, role="auditor")
    assert me.tiers == [3, 4] and me.domains == ["biology"]
    assert Offer.objects.open().filter(accreditation=me).count() == 1
    # The auditor network's filed report (the transparency report's story adds past-year audits too).
    assert Engagement.objects.filter(accreditation=me, status=Engagement.Status.COMPLETED).count() >= 1
    assert Accreditation.objects.awaiting_decision().exists()
    assert Accreditation.objects.evaluators().active().count() >= 2
    large = Application.objects.filter(release__ai_model__slug="acme-large").select_related(
        "release__ai_model__organization", "framework_version").first()
    if large is not None and large.status == Application.Status.IN_REVIEW:
        assert Engagement.objects.get(accreditation=me, status=Engagement.Status.ACTIVE).application == large
        excluded = {c.auditor.name: " ".join(c.reasons) for c in suggestions.suggest(large).excluded}
        assert "Hard conflict" in excluded["Connie Consult"]
