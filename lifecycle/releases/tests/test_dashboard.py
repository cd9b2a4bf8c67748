"""The dashboard's first page (issue 15, begun): signing in with a session, who sees which templates, what
each environment serves, the search, and the Content-Security-Policy that allows only our own files."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from lifecycle.releases.services import deploy_version
from lifecycle.testing.factories import create_template
from lifecycle.testing.workflow import approve_for

pytestmark = pytest.mark.django_db

OVERVIEW = "/dashboard/"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def names_on(response) -> list[str]:
    assert response.status_code == 200
    found = re.findall(r'<tr data-template="[^"]+">\s*<th scope="row">([^<]+)</th>', response.content.decode())
    return [unescape(name) for name in found]


@pytest.fixture
def two_authors_templates(make_user):
    alice, bob = make_user("author"), make_user("author")
    return alice, bob, create_template(alice, name="Alice's prompt"), create_template(bob, name="Bob's prompt")


def test_overview__anonymous__sent_to_sign_in():
    response = Client().get(OVERVIEW)
    assert response.status_code == 302
    assert response.url == "/dashboard/login/?next=/dashboard/"


def test_sign_in__with_a_password__the_overview(make_user):
    user = make_user("analyst")
    user.set_password("a long passphrase 1")
    user.save()
    client = Client()
    page = client.get("/dashboard/login/")
    assert page.status_code == 200
    assert 'name="csrfmiddlewaretoken"' in page.content.decode()
    response = client.post(
        "/dashboard/login/", {"username": user.username, "password": "a long passphrase 1", "next": OVERVIEW}
    )
    assert (response.status_code, response.url) == (302, OVERVIEW)
    assert client.get(OVERVIEW).status_code == 200


def test_sign_in__wrong_password__refused_on_the_page(make_user):
    user = make_user("analyst")
    response = Client().post("/dashboard/login/", {"username": user.username, "password": "wrong"})
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()


def test_overview__author__only_the_templates_they_maintain(two_authors_templates):
    alice, _, _, _ = two_authors_templates
    assert names_on(signed_in(alice).get(OVERVIEW)) == ["Alice's prompt"]


@pytest.mark.parametrize("role", ["analyst", "deployer"])
def test_overview__analysts_and_deployers__every_template(two_authors_templates, make_user, role):
    assert names_on(signed_in(make_user(role)).get(OVERVIEW)) == ["Alice's prompt", "Bob's prompt"]


def test_overview__superuser__every_template(two_authors_templates, make_user):
    assert names_on(signed_in(make_user(superuser=True)).get(OVERVIEW)) == ["Alice's prompt", "Bob's prompt"]


def test_overview__no_role_and_maintaining_nothing__none_and_told_why(two_authors_templates, make_user):
    response = signed_in(make_user()).get(OVERVIEW)
    assert names_on(response) == []
    assert "you see the templates you maintain" in response.content.decode()


def test_overview__search__templates_named_like_it(two_authors_templates, make_user):
    client = signed_in(make_user("analyst"))
    assert names_on(client.get(OVERVIEW, {"q": "bob"})) == ["Bob's prompt"]
    assert "No template you may see is named like" in client.get(OVERVIEW, {"q": "nobody"}).content.decode()


def test_overview__what_each_environment_serves(make_user, reviewers, deployer):
    author = make_user("author")
    template = create_template(author, name="Served")
    approve_for(template.latest_version, "production", reviewers)
    deploy_version(actor=deployer, version_id=template.latest_version.pk, environment="production")
    page = signed_in(make_user("analyst")).get(OVERVIEW).content.decode()
    row = re.search(r'<tr data-template="[^"]+">(.*?)</tr>', page, re.DOTALL).group(1)
    cells = re.findall(r"<td[^>]*>([^<]+)</td>", row)
    assert cells == ["1.0.0", "nothing active", "1.0.0"]  # development, staging, production


def test_dashboard__strict_content_security_policy__and_none_on_the_api_or_admin(make_user):
    client = signed_in(make_user("analyst"))
    policy = client.get(OVERVIEW)["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["default-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in policy
    assert "Content-Security-Policy" in Client().get("/dashboard/login/")
    assert "Content-Security-Policy" not in client.get("/api/templates")
    assert "Content-Security-Policy" not in client.get("/admin/login/")


def test_dashboard__its_own_static_files_exist():
    for name in ("dashboard/dashboard.css", "dashboard/favicon.svg"):
        assert finders.find(name), name


def test_sign_out__post__back_to_sign_in(make_user):
    client = signed_in(make_user("analyst"))
    response = client.post("/dashboard/logout/")
    assert (response.status_code, response.url) == (302, "/dashboard/login/")
    assert client.get(OVERVIEW).status_code == 302
