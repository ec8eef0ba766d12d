"""The public "Which tier is my model?" page (DESIGN §2.1): no login, no JavaScript."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from certification.framework.models import Benchmark, FrameworkVersion
from certification.framework.seed import seed_framework

URL = reverse("certification:tier-check")


@pytest.fixture
def framework(db) -> FrameworkVersion:
    seed_framework(FrameworkVersion, Benchmark)
    return FrameworkVersion.objects.get(version="2025.1")


def answers(**overrides):
    data = {"parameter_count": "500000000", "emergent_capabilities": "no", "emergent_description": ""}
    data.update(overrides)
    return data


def post(client, data):
    # Errors re-render the form with 200, like every form page of the portal.
    response = client.post(URL, data)
    assert response.status_code == 200, response.content.decode()[:2000]
    return response


def test_anonymous_gets_the_form_with_the_versions_choices(client, framework):
    response = client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    for value in ("advanced_reasoning", "code_generation", "multimodal", "biology", "cybersecurity"):
        assert f'value="{value}"' in html
    assert "Code generation" in html and "Cybersecurity" in html
    assert 'name="emergent_capabilities"' in html and 'name="emergent_description"' in html
    assert "2025.1" in html
    assert response.context["result"] is None


def test_plain_html_form_round_trip_with_csrf(framework):
    """A browser without JavaScript: GET the form, POST it back with the CSRF cookie and token."""
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(URL)
    token = page.cookies["csrftoken"].value
    assert 'method="post"' in page.content.decode()
    response = browser.post(URL, {**answers(parameter_count="7000000000"), "csrfmiddlewaretoken": token})
    assert response.status_code == 200
    assert response.context["result"].tier == 2


@pytest.mark.parametrize(
    ("count", "tier", "rule"),
    [
        ("999999999", 1, "params_lt_1b"),
        ("1000000000", 2, "params_1b_to_70b"),
        ("70000000000", 2, "params_1b_to_70b"),
        ("70000000001", 3, "params_gt_70b"),
    ],
)
def test_boundaries_through_the_form(client, framework, count, tier, rule):
    response = post(client, answers(parameter_count=count))
    result = response.context["result"]
    assert result.tier == tier
    assert [r.id for r in result.rules] == [rule]
    html = response.content.decode()
    assert f"Your model is Tier {tier}" in html
    assert result.rules[0].text in html


@pytest.mark.parametrize("typed", ["70,000,000,001", "70 000 000 001", "70_000_000_001"])
def test_thousands_separators_are_accepted(client, framework, typed):
    assert post(client, answers(parameter_count=typed)).context["result"].tier == 3


def test_result_lists_rules_requirements_auditors_and_review_days(client, framework):
    response = post(
        client,
        answers(
            parameter_count="80000000000",
            capabilities=["code_generation"],
            sensitive_domains=["biology"],
            emergent_capabilities="yes",
            emergent_description="Writes working exploits unprompted.",
        ),
    )
    result = response.context["result"]
    assert result.tier == 4
    assert [r.id for r in result.rules] == [
        "emergent_capabilities",
        "sensitive_domain:biology",
        "params_gt_70b",
        "capability:code_generation",
    ]
    html = response.content.decode()
    for text in (
        "The model exhibits emergent capabilities.",
        "The model is trained on or intended for the sensitive domain Biology.",
        "The model has more than 70 billion parameters.",
        "The model has the capability Code generation.",
        "Sensitive-domain risk assessments",
        "2 auditors; together accredited in every flagged domain.",
        "90 days",
    ):
        assert text in html
    assert response.context["tier_settings"]["auditors_required"] == 2


def test_tier_1_shows_no_auditors_and_no_window(client, framework):
    response = post(client, answers(parameter_count="1000"))
    html = response.content.decode()
    assert "Red-teaming report" not in html  # Tier 2 and up only
    assert "Model card" in html
    assert response.context["result"].auditors_required == 0
    assert response.context["result"].community_review_days is None


def test_get_with_answers_in_the_query_string_classifies(client, framework):
    response = client.get(URL, {"parameter_count": "2000000000", "capabilities": "multimodal", "emergent_capabilities": "no"})
    assert response.status_code == 200
    assert response.context["result"].tier == 3


# --- errors ------------------------------------------------------------------------------------------


def field_errors(response) -> dict[str, list[str]]:
    return {k: list(v) for k, v in response.context["form"].errors.items()}


@pytest.mark.parametrize("typed", ["", "seven billion", "7.5e9", "-5", "1.5"])
def test_unreadable_count_is_an_error_naming_the_range(client, framework, typed):
    response = post(client, answers(parameter_count=typed))
    errors = field_errors(response)
    assert list(errors) == ["parameter_count"]
    html = response.content.decode()
    assert "There is a problem" in html
    assert 'href="#id_parameter_count"' in html
    if typed:
        assert "from 1 to 1,000,000,000,000,000" in errors["parameter_count"][0]


@pytest.mark.parametrize("typed", ["0", "1000000000000001"])
def test_out_of_range_count_is_refused_by_the_classifier(client, framework, typed):
    response = post(client, answers(parameter_count=typed))
    assert "from 1 to 1,000,000,000,000,000" in field_errors(response)["parameter_count"][0]
    assert response.context["result"] is None


def test_unknown_capability_names_the_allowed_values(client, framework):
    response = post(client, answers(capabilities=["telepathy"], sensitive_domains=["chemistry"]))
    errors = field_errors(response)
    assert "Advanced reasoning (advanced_reasoning), Code generation (code_generation), Multimodal (multimodal)" in (
        errors["capabilities"][0]
    )
    assert "Biology (biology), Cybersecurity (cybersecurity)" in errors["sensitive_domains"][0]
    html = response.content.decode()
    assert 'href="#id_capabilities"' in html and 'id="id_capabilities"' in html


def test_emergent_yes_needs_a_description(client, framework):
    response = post(client, answers(emergent_capabilities="yes", emergent_description="  "))
    assert list(field_errors(response)) == ["emergent_description"]
    assert "Describe the emergent capabilities" in response.content.decode()


def test_emergent_answer_must_be_yes_or_no(client, framework):
    response = post(client, answers(emergent_capabilities="maybe"))
    assert "emergent_capabilities" in field_errors(response)


def test_every_error_is_shown_at_once(client, framework):
    response = post(
        client,
        answers(parameter_count="lots", capabilities=["x"], emergent_capabilities="yes"),
    )
    assert set(field_errors(response)) == {"parameter_count", "capabilities", "emergent_description"}


def test_answers_are_kept_after_an_error(client, framework):
    response = post(client, answers(parameter_count="oops", capabilities=["multimodal"]))
    html = response.content.decode()
    assert 'value="oops"' in html
    assert 'value="multimodal" id="id_capabilities_2" checked' in html
    assert 'value="code_generation" id="id_capabilities_1">' in html


# --- the version in force ------------------------------------------------------------------------------


def test_choices_come_from_the_version_in_force(client, framework):
    rules = copy.deepcopy(framework.rules)
    rules["version"] = "2026.1"
    rules["classification"]["sensitive_domains"].append({"id": "chemistry", "label": "Chemistry"})
    starts = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    FrameworkVersion.objects.create(
        version="2026.1", status="published", effective_from=starts, rules=rules, digest="0" * 64
    )
    with time_machine.travel(starts - dt.timedelta(seconds=1), tick=False):
        assert 'value="chemistry"' not in client.get(URL).content.decode()
        assert "sensitive_domains" in field_errors(post(client, answers(sensitive_domains=["chemistry"])))
    with time_machine.travel(starts, tick=False):
        assert 'value="chemistry"' in client.get(URL).content.decode()
        response = post(client, answers(sensitive_domains=["chemistry"]))
        assert response.context["result"].tier == 4
        assert response.context["result"].framework_version == "2026.1"


def test_no_version_in_force_says_so(client, framework):
    FrameworkVersion.objects.update(status=FrameworkVersion.Status.DRAFT)
    response = client.get(URL)
    assert response.status_code == 503
    assert "No framework version is in force" in response.content.decode()
