"""The language switcher and the reader's language (issue 17): Django's set_language from the
header, the choice kept on a signed-in user's account and used for their emails, Accept-Language
for visitors, responses that vary on the language."""

from __future__ import annotations

import pytest
from django.template import Context, Template
from django.test import Client
from django.urls import reverse
from django.utils import translation

from portal import notifications
from tests import factories as f

SWITCH = "/i18n/setlang/"


def page_language(response) -> str:
    html = response.content.decode()
    return html.split('<html lang="', 1)[1].split('"', 1)[0]


def test_french_is_switched_on(settings):
    assert settings.LANGUAGES == settings.ALL_LANGUAGES == [("en", "English"), ("fr", "Français")]


def test_one_language_shows_no_switcher(client, db, settings):
    settings.LANGUAGES = settings.ALL_LANGUAGES[:1]  # as before French was switched on
    assert "language-switch" not in client.get("/").content.decode()


def test_the_header_offers_the_other_language(client, db):
    html = client.get("/").content.decode()
    assert 'action="/i18n/setlang/"' in html
    assert '<button name="language" value="fr" lang="fr"' in html
    # A visitor's page has no CSRF token: every visitor gets the same body.
    assert "csrfmiddlewaretoken" not in html


def test_a_visitor_switches_with_a_cookie_and_comes_back_to_the_same_page(db):
    client = Client(enforce_csrf_checks=True)
    response = client.post(SWITCH, {"language": "fr", "next": "/registry/?q=acme"})
    assert response.status_code == 302 and response["Location"] == "/registry/?q=acme"
    assert response.cookies["django_language"].value == "fr"
    page = client.get("/registry/")
    assert page["Content-Language"] == "fr" and page_language(page) == "fr"
    assert 'value="en" lang="en"' in page.content.decode()


def test_next_outside_the_site_is_ignored(client, db):
    response = client.post(SWITCH, {"language": "fr", "next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == "/"


def test_an_unknown_language_changes_nothing(client, db):
    response = client.post(SWITCH, {"language": "xx", "next": "/"})
    assert response.status_code == 302 and "django_language" not in response.cookies


def test_accept_language_for_visitors_and_responses_vary_on_it(client, db):
    page = client.get("/registry/", HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9")
    assert page["Content-Language"] == "fr" and page_language(page) == "fr"
    assert "Accept-Language" in page["Vary"]
    assert client.get("/registry/", HTTP_ACCEPT_LANGUAGE="en")["Content-Language"] == "en"


def test_a_signed_in_user_keeps_the_choice_on_the_account(db):
    user = f.UserFactory()
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    # Without the form's token, a signed-in user's switch is refused (it changes the account).
    assert client.post(SWITCH, {"language": "fr", "next": "/"}).status_code == 403
    user.refresh_from_db()
    assert user.language == ""
    token = client.get(reverse("portal:profile")).context["csrf_token"]
    response = client.post(SWITCH, {"language": "fr", "next": "/", "csrfmiddlewaretoken": str(token)})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.language == "fr"
    # The account's choice wins over the browser's, on any device.
    other = Client()
    other.force_login(user)
    assert other.get("/dashboard/", HTTP_ACCEPT_LANGUAGE="en")["Content-Language"] == "fr"


def test_the_profile_sets_and_clears_the_language(client, db):
    user = f.UserFactory()
    client.force_login(user)
    data = {"name": user.name or "A Person", "time_zone": "UTC", "language": "fr"}
    assert client.post(reverse("portal:profile"), data).status_code == 302
    user.refresh_from_db()
    assert user.language == "fr"
    assert client.post(reverse("portal:profile"), {**data, "language": ""}).status_code == 302
    user.refresh_from_db()
    assert user.language == ""
    assert client.post(reverse("portal:profile"), {**data, "language": "de"}).status_code == 200


@pytest.mark.parametrize("chosen, expected", [("fr", "fr"), ("", "en")])
def test_emails_are_written_in_the_recipients_language(db, monkeypatch, chosen, expected):
    user = f.UserFactory()
    user.language = chosen
    user.save(update_fields=["language"])
    seen = []
    real = notifications.render_email

    def spy(kind, context):
        seen.append(translation.get_language())
        return real(kind, context)

    monkeypatch.setattr(notifications, "render_email", spy)
    with translation.override("fr" if expected == "en" else "en"):  # the sender's language does not matter
        notifications.notify(user, "test", {"message": "Hello"})
    assert seen == [expected]


def test_the_api_reads_and_sets_the_language(db):
    from rest_framework.test import APIClient

    user = f.UserFactory()
    client = APIClient()
    client.force_authenticate(user)
    url = "/api/v1/account/profile/"
    assert client.get(url).json()["language"] == ""
    response = client.patch(url, {"language": "fr"}, format="json")
    assert response.status_code == 200 and response.json()["language"] == "fr"
    bad = client.patch(url, {"language": "de"}, format="json")
    assert bad.status_code == 400 and "language" in bad.json()
    user.refresh_from_db()
    assert user.language == "fr"


def test_the_switch_names_each_language_in_itself(client, db):
    """A reader who cannot read the page's language still finds their own: "English" on a French page."""
    french = client.get("/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert 'value="en" lang="en" class="link-button">English</button>' in french
    english = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'value="fr" lang="fr" class="link-button">Français</button>' in english


def test_a_label_colon_is_written_as_each_language_writes_it():
    """French puts a non-breaking space before a colon ("Statut : valide"); English does not."""
    template = Template('{% load i18n portal_tags %}{% translate "Status" %}{% colon %} x')
    with translation.override("en"):
        assert template.render(Context()) == "Status: x"
    with translation.override("fr"):
        assert template.render(Context()) == "Statut\u00a0: x"
