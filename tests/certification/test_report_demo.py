"""The demo story: a published report for the past year and a draft for the current one."""

from __future__ import annotations

import pytest
from django.utils import timezone

from certification.transparency import demo as transparency_demo
from certification.transparency import services
from certification.transparency.models import ReportSnapshot
from portal import demo
from portal.models import User


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"


@pytest.mark.slow
def test_demo_publishes_the_past_year_and_drafts_the_current_one(framework, client):
    demo.load()
    staff = User.objects.get(email="staff@demo.example")
    transparency_demo.load(staff)
    year = timezone.now().year
    snapshot = ReportSnapshot.objects.get()
    assert snapshot.year == year - 1
    tables = snapshot.data["tables"]
    by_tier = {r["tier"]: r for r in tables["certificates"]["rows"]}
    # Three certificates of this story (other parts of the demo may add more in that year).
    assert by_tier["all"]["issued"] >= 3 and by_tier["2"]["issued"] >= 2
    adoption = {r["tier"]: r for r in tables["adoption"]["rows"]}["all"]
    assert adoption["organizations_certified"] >= 2 and adoption["member_organizations"] >= 3
    decisions = {r["tier"]: r for r in tables["time_to_decision"]["rows"]}
    assert decisions["all"]["decisions"] >= 5 and decisions["3"]["decisions"] == 1
    assert decisions["1"]["median_days_excluding_changes_requested"] < decisions["1"]["median_days"]
    assert {r["tier"]: r["performed"] for r in tables["audits"]["rows"]}["3"] == 2
    assert {r["response"]: r["findings"] for r in tables["responses"]["rows"]} == {
        "mitigated": 1, "accepted_risk": 1, "disputed": 1, "no_response_yet": 0}
    assert services.build_draft(year) is not None
    assert client.get(f"/report/{year - 1}/").status_code == 200
    assert client.get(f"/report/{year}/").status_code == 404
    # Loading again changes nothing published.
    transparency_demo.load(staff)
    assert ReportSnapshot.objects.count() == 1
