import datetime as dt

import pytest
from django.urls import reverse

from certification.framework import services as framework_services
from certification.framework.models import Benchmark
from certification.releases import checklist
from certification.releases import services as release_services
from certification.releases.models import BenchmarkResult
from tests.certification.factories import make_release


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"


def _benchmark_problems(release, framework):
    items = checklist.build(release, 1, framework.rules)
    return next(i for i in items if i.id == "safety_benchmarks").problems


def test_custom_benchmark_counts_only_once_established(framework, client, org, org_admin, staff):
    release = make_release(org, org_admin, fill=False)
    for slug in ("realtoxicityprompts", "bbq"):
        release_services.add_benchmark_result(release, org_admin, benchmark=Benchmark.objects.get(slug=slug),
                                              metric="m",
                                      value="1", run_date=dt.date(2025, 1, 1))
    client.force_login(org_admin)
    url = reverse("certification:section-edit", args=[release.pk, "safety_benchmarks"])
    response = client.post(url, {"propose": "1", "c-name": "FactScore", "c-category": "factual_accuracy",
                                 "c-headline_metric": "precision", "c-better_when": "higher"})
    assert response.status_code == 302
    custom = Benchmark.objects.get(name="FactScore")
    assert not custom.established and custom.proposed_by == org
    response = client.post(url, {"b-benchmark": custom.pk, "b-metric": "precision", "b-value": "0.7",
                                 "b-run_date": "2025-02-01", "b-run_by": "self"})
    assert response.status_code == 302
    assert BenchmarkResult.objects.filter(release=release, benchmark=custom).exists()
    assert _benchmark_problems(release, framework)  # 2 established only, no factual accuracy
    release_services.establish_benchmark(custom, staff)
    assert _benchmark_problems(release, framework) == []


def test_other_organizations_cannot_use_a_custom_benchmark(framework, client, org, org_admin, other_org, other_member):
    custom = release_services.propose_benchmark(org, org_admin, name="Private", category="bias", headline_metric="x",
                                        better_when="lower")
    release = make_release(other_org, other_member, fill=False)
    client.force_login(other_member)
    response = client.post(reverse("certification:section-edit", args=[release.pk, "safety_benchmarks"]), {
        "b-benchmark": custom.pk, "b-metric": "x", "b-value": "1", "b-run_date": "2025-02-01", "b-run_by": "self"})
    assert response.status_code == 200  # the form shows the error
    assert not BenchmarkResult.objects.filter(release=release).exists()


def test_only_staff_establish(framework, org, org_admin):
    custom = release_services.propose_benchmark(org, org_admin, name="X", category="bias", headline_metric="x",
                                        better_when="lower")
    with pytest.raises(framework_services.WorkflowError):
        release_services.establish_benchmark(custom, org_admin)


def test_custom_benchmarks_through_the_api(framework, client, org, org_admin, staff):
    release = make_release(org, org_admin, fill=False)
    client.force_login(org_admin)
    r = client.post("/api/v1/benchmarks/", {"organization": org.slug, "name": "FactScore", "category": "factual_accuracy",
                                             "headline_metric": "precision", "better_when": "higher"},
                    content_type="application/json")
    assert r.status_code == 201, r.json()
    slug = r.json()["slug"]
    assert r.json()["established"] is False
    r = client.post(f"/api/v1/releases/{release.pk}/benchmark-results/", {
        "benchmark": slug, "metric": "precision", "value": "0.7", "run_date": "2025-02-01", "run_by": "self"},
        content_type="application/json")
    assert r.status_code == 201, r.json()
    assert client.post(f"/api/v1/benchmarks/{slug}/establish/").status_code == 403
    client.force_login(staff)
    r = client.post(f"/api/v1/benchmarks/{slug}/establish/")
    assert r.status_code == 200 and r.json()["established"] is True
