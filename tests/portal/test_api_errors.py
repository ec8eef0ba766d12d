"""The API's error responses as documented (portal/schema.py), regressions found by the fuzzer
(tests/portal/test_api_fuzz.py): each test here failed before its fix, and their messages in the
language the client accepts (issue 17)."""

from __future__ import annotations

import functools
import json

import jsonschema
import pytest
from drf_spectacular.generators import SchemaGenerator

from portal.models import Membership
from tests import factories as f


@functools.cache
def openapi() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def responses(path: str, method: str) -> dict:
    return openapi()["paths"][path][method]["responses"]


def body_schema(path: str, method: str, status: int) -> dict:
    return responses(path, method)[str(status)]["content"]["application/json"]["schema"]


def assert_conforms(response, path: str, method: str) -> None:
    """The response's status is documented for the operation and its body matches that schema."""
    assert str(response.status_code) in responses(path, method), (path, method, response.status_code)
    schema = {**body_schema(path, method, response.status_code), "components": openapi()["components"]}
    jsonschema.validate(response.json(), schema)


# --- what every operation documents ------------------------------------------------------------------------


def test_every_operation_documents_its_errors():
    for path, operations in openapi()["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            if "{" in path:
                assert "404" in codes, (method, path)
            if method in ("post", "put", "patch", "delete"):
                assert "400" in codes, (method, path)
            if "requestBody" in operation:
                assert {"413", "415"} <= codes, (method, path)
            assert "429" in codes, (method, path)


def test_errors_are_documented_only_where_they_can_happen():
    # Anonymous, no authenticator: no 401 or 403; no path parameter: no 404.
    assert set(responses("/api/v1/classify/", "post")) == {"200", "400", "413", "415", "429", "503"}
    # Signed in, paginated (an invalid cursor is a 404), nothing to validate: no 400.
    assert set(responses("/api/v1/notifications/", "get")) == {"200", "401", "403", "404", "429"}
    # A transition without a body can still be refused with its reason.
    assert {"400", "401", "403", "404"} <= set(responses("/api/v1/applications/{id}/withdraw/", "post"))


def test_error_bodies_are_shared_components():
    components = openapi()["components"]["schemas"]
    assert components["ErrorDetail"]["required"] == ["detail"]
    assert components["ValidationError"]["type"] == "object"
    assert body_schema("/api/v1/organizations/{slug}/", "get", 404) == {"$ref": "#/components/schemas/ErrorDetail"}
    assert body_schema("/api/v1/models/", "post", 400) == {"$ref": "#/components/schemas/ValidationError"}


def test_real_error_bodies_match_the_documented_ones(client, org_member, settings):
    path = "/api/v1/organizations/{slug}/"
    assert_conforms(client.get("/api/v1/organizations/acme/"), path, "get")  # 401
    client.force_login(org_member)
    assert_conforms(client.get("/api/v1/organizations/nope/"), path, "get")  # 404
    assert_conforms(client.post("/api/v1/models/", {"name": ""}, content_type="application/json"),
                    "/api/v1/models/", "post")  # 400, keyed by field
    assert_conforms(client.post("/api/v1/models/", "{", content_type="application/json"),
                    "/api/v1/models/", "post")  # 400, detail
    assert_conforms(client.post("/api/v1/models/", "<a/>", content_type="application/xml"),
                    "/api/v1/models/", "post")  # 415
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    large = client.post("/api/v1/models/", json.dumps({"name": "x" * 200}), content_type="application/json")
    assert large.status_code == 413
    assert_conforms(large, "/api/v1/models/", "post")


# --- regressions found by the fuzzer -----------------------------------------------------------------------


def test_certificate_list_query_errors_are_field_errors(client, framework):
    response = client.get("/api/v1/certificates/", {"tier": "9"})
    assert response.status_code == 400 and "tier" in response.json()
    assert_conforms(response, "/api/v1/certificates/", "get")


def test_verify_without_a_parameter_is_a_documented_field_error(client, framework):
    response = client.get("/api/v1/verify/")
    assert response.status_code == 400 and "non_field_errors" in response.json()
    assert_conforms(response, "/api/v1/verify/", "get")


def test_catalogue_benchmarks_have_a_null_organization(client, framework, org_member):
    client.force_login(org_member)
    response = client.get("/api/v1/benchmarks/")
    assert response.status_code == 200
    assert response.json()["results"][0]["organization"] is None
    assert openapi()["components"]["schemas"]["Benchmark"]["properties"]["organization"]["nullable"] is True


def test_release_sublists_are_documented_as_plain_lists_and_creations_as_201():
    for path in ("/api/v1/releases/{id}/benchmark-results/", "/api/v1/releases/{id}/evidence/"):
        assert body_schema(path, "get", 200)["type"] == "array", path
        assert "201" in responses(path, "post") and "200" not in responses(path, "post"), path
    assert "201" in responses("/api/v1/releases/{id}/apply/", "post")


@pytest.mark.parametrize("name", ["window", "application"])
@pytest.mark.parametrize("value", ["12494523320245004288", "²", "-1", "1.5"])
def test_finding_filters_refuse_what_is_not_an_id(client, org_member, name, value):
    client.force_login(org_member)
    response = client.get("/api/v1/review/findings/", {name: value})  # a huge id was a 500 (integer overflow)
    assert response.status_code == 400
    assert response.json() == {name: ["An integer id."]}


def test_auditor_suggestions_refuse_a_unicode_digit(client, db):
    client.force_login(f.make_staff())
    response = client.get("/api/v1/auditors/suggestions/", {"application": "²"})  # int("²") was a 500
    assert response.status_code == 400 and "application" in response.json()


@pytest.mark.parametrize("action", ["submission", "report"])
def test_engagement_actions_answer_404_to_a_unicode_digit(client, org, action):
    client.force_login(f.MembershipFactory(organization=org, role=Membership.Role.ADMIN).user)
    assert client.get(f"/api/v1/engagements/²/{action}/").status_code == 404


# --- in the reader's language (issue 17) -------------------------------------------------------------------


def shape(body):
    """What a program reads in an error body: its keys (field names), how many messages each has,
    and its ``code``s; the messages themselves are for people."""
    if isinstance(body, dict):
        return {k: (v if k == "code" else shape(v)) for k, v in body.items()}
    if isinstance(body, list):
        return [shape(v) for v in body]
    return str


def messages_of(body) -> list[str]:
    if isinstance(body, dict):
        return [m for k, v in body.items() if k != "code" for m in messages_of(v)]
    if isinstance(body, list):
        return [m for v in body for m in messages_of(v)]
    return [body]


def token_client(user, *scopes):
    from rest_framework.test import APIClient

    from tests.portal.test_token_scopes import token_for

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user, *scopes)}")
    return client


# (who, method, path, body, status, English message, French message or None when only checked as French)
LANGUAGE_CASES = {
    "missing and blank fields": ("member", "post", "/api/v1/models/", {"name": ""}, 400,
                                 "This field may not be blank.", "Ce champ ne peut être vide."),
    "a query parameter": ("member", "get", "/api/v1/review/findings/?window=x", None, 400,
                          "An integer id.", "Un identifiant entier."),
    "a body that is not JSON": ("member", "post", "/api/v1/models/", "{", 400, "The JSON is not valid", None),
    "an object that is not there": ("member", "get", "/api/v1/organizations/nope/", None, 404,
                                    "Not found.", "Non trouvé."),
    "a certificate number": ("visitor", "get", "/api/v1/certificates/RRC-2025-NOPE0000/", None, 404,
                             "No certificate has this number.", "Aucun certificat ne porte ce numéro."),
    "a member who is not an admin": ("member", "patch", "/api/v1/organizations/acme/", {"name": "X"}, 403,
                                     "Only organization admins may do this.",
                                     "Seuls les administrateurs de l'organisation peuvent effectuer cette action."),
    "a token without the scope": ("read token", "post", "/api/v1/models/", {"name": "X"}, 403,
                                  "This token lacks the 'write' scope", None),
    "nobody signed in": ("visitor", "get", "/api/v1/organizations/acme/", None, 401,
                         "Authentication credentials were not provided.",
                         "Informations d'authentification non fournies."),
}


@pytest.mark.parametrize("case", sorted(LANGUAGE_CASES))
def test_errors_are_in_the_language_the_client_accepts(client, framework, org_member, case):
    """``Accept-Language: fr`` gets the messages in French, no header gets English; the status, the
    field names and the codes are the same."""
    from tests.portal.english_left import english, french

    who, method, path, body, status, in_english, in_french = LANGUAGE_CASES[case]
    if who == "member":
        client.force_login(org_member)
    elif who == "read token":
        client = token_client(org_member, "read")
    answers = {}
    for language in ("fr", None):
        headers = {"HTTP_ACCEPT_LANGUAGE": language} if language else {}
        data = body if isinstance(body, str) or body is None else json.dumps(body)
        response = getattr(client, method)(path, data, content_type="application/json", **headers)
        assert response.status_code == status, (language, response.content)
        assert response["Content-Language"] == (language or "en")
        answers[language] = response.json()
    assert shape(answers["fr"]) == shape(answers[None])
    english_messages, french_messages = messages_of(answers[None]), messages_of(answers["fr"])
    assert any(m.startswith(in_english) for m in english_messages), english_messages
    assert not any(french(m) for m in english_messages), english_messages
    if in_french:
        assert in_french in french_messages, french_messages
    assert not set(french_messages) & set(english_messages), french_messages
    assert not any(english(m) for m in french_messages), french_messages
