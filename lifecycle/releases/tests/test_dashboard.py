"""The dashboard's first page (issue 15, begun): signing in with a session, who sees which templates, what
each environment serves, the search, and the Content-Security-Policy that allows only our own files."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from lifecycle.releases.services import deploy_version
from lifecycle.testing.dashboard import signed_in
from lifecycle.testing.factories import create_template
from lifecycle.testing.workflow import approve_for

pytestmark = pytest.mark.django_db

OVERVIEW = "/dashboard/"


def names_on(response) -> list[str]:
    assert response.status_code == 200
    found = re.findall(
        r'<tr data-template="[^"]+">\s*<th scope="row"><a [^>]+>([^<]+)</a></th>', response.content.decode()
    )
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


def test_sign_in__from_the_login_page_itself__the_overview(make_user):
    # Given someone who opened /dashboard/login/ directly (no `next`)
    user = make_user("analyst")
    user.set_password("a long passphrase 1")
    user.save()
    # When they sign in
    response = Client().post("/dashboard/login/", {"username": user.username, "password": "a long passphrase 1"})
    # Then they land on the overview (Django's default, /accounts/profile/, does not exist here)
    assert (response.status_code, response.url) == (302, OVERVIEW)


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
    cells = re.findall(r'<td(?: class="none")?>([^<]+)</td>', row)
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


# The template page, the period selector and the rollbacks page


def template_page(template) -> str:
    return f"/dashboard/templates/{template.pk}/"


def test_template_page__another_authors_template__403_and_unknown_404(two_authors_templates):
    alice, _, alices, bobs = two_authors_templates
    client = signed_in(alice)
    assert client.get(template_page(alices)).status_code == 200
    assert client.get(template_page(bobs)).status_code == 403
    assert client.get("/dashboard/templates/00000000-0000-0000-0000-000000000000/").status_code == 404


def test_template_page__no_executions__said_and_no_chart(two_authors_templates, make_user):
    page = signed_in(make_user("analyst")).get(template_page(two_authors_templates[2])).content.decode()
    assert "No executions in this period." in page
    assert 'id="series-charts"' not in page
    assert "No forecast:" in page


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ({"period": "custom", "from": "2026-11-05", "to": "2026-11-01"}, "the first day must not be after the last"),
        ({"period": "custom", "from": "yesterday"}, "custom days need a first and a last day"),
        ({"period": "custom", "from": "1990-01-01", "to": "1990-01-02"}, "startDate: must be between"),
        ({"period": "week"}, "unknown period 'week'"),
        ({"period": "custom", "from": "2026-01-01", "to": "9999-12-31"}, "custom periods span at most 366 days"),
        ({"period": "custom", "from": "9999-12-30", "to": "9999-12-31"}, "the last day must not be after tomorrow"),
    ],
)
def test_period__one_that_cannot_be__said_and_the_last_7_days_shown(make_user, query, problem):
    page = signed_in(make_user("analyst")).get(OVERVIEW, query).content.decode()
    assert problem in unescape(page)
    assert "showing the last 7 days" in page


def test_period__custom_days__their_window_in_utc(make_user):
    page = signed_in(make_user("analyst")).get(OVERVIEW, {"period": "custom", "from": "2026-11-01", "to": "2026-11-02"})
    assert "2026-11-01 to 2026-11-02 (UTC)" in page.content.decode()


ROLLBACKS = "/dashboard/rollbacks/"


@pytest.fixture
def in_production(make_user, reviewers, deployer):
    """A template whose 1.0.1 serves production, after 1.0.0."""
    from lifecycle.releases.services import create_version_live_in_development

    author = make_user("author")
    template = create_template(author, name="Rolled")
    first = template.latest_version
    approve_for(first, "production", reviewers)
    deploy_version(actor=deployer, version_id=first.pk, environment="production")
    second = create_version_live_in_development(
        actor=author, template_id=template.pk, definition={"content": first.content + " Briefly."}
    )
    approve_for(second, "production", reviewers)
    deploy_version(actor=deployer, version_id=second.pk, environment="production")
    return template, first, second


def rollback_form(template, first, second, **overrides):
    return {
        "kind": "manual",
        "template": str(template.pk),
        "environment": "production",
        "current": str(second.pk),
        "target": str(first.pk),
        "reason": "too curt",
        "confirm": "yes",
        **overrides,
    }


def serving(template) -> str:
    from lifecycle.releases.selectors import active_versions_by_template

    return active_versions_by_template([template.pk])[(template.pk, "production")]


def test_rollbacks__an_analyst__no_button_and_a_post_refused(in_production, make_user):
    template, first, second = in_production
    client = signed_in(make_user("analyst"))
    assert "manual-rollback" not in client.get(ROLLBACKS).content.decode()
    page = client.post(ROLLBACKS, rollback_form(template, first, second), follow=True).content.decode()
    assert "Nothing rolled back: " in page
    assert "deployer" in page
    assert serving(template) == "1.0.1"


def test_rollbacks__not_confirmed__nothing_rolled_back(in_production, deployer):
    template, first, second = in_production
    client = signed_in(deployer)
    page = client.post(ROLLBACKS, rollback_form(template, first, second, confirm=""), follow=True).content.decode()
    assert "tick the box to confirm" in page
    assert serving(template) == "1.0.1"


def test_rollbacks__a_deployer__manual_rollback_through_the_service(in_production, deployer):
    template, first, second = in_production
    client = signed_in(deployer)
    assert "manual-rollback" in client.get(ROLLBACKS).content.decode()
    page = client.post(ROLLBACKS, rollback_form(template, first, second), follow=True).content.decode()
    assert "Rolled back Rolled in production: 1.0.1 → 1.0.0." in page
    assert serving(template) == "1.0.0"
    # The same form again: what it rolls back no longer serves, the API's 409 said on the page
    page = client.post(ROLLBACKS, rollback_form(template, first, second), follow=True).content.decode()
    assert "Nothing rolled back: Cannot roll back" in unescape(page)
    assert serving(template) == "1.0.0"


def test_rollbacks__a_deployer__emergency_rollback_to_the_last_good(in_production, deployer):
    template, _first, _second = in_production
    form = {"kind": "emergency", "template": str(template.pk), "environment": "production"}
    page = signed_in(deployer).post(ROLLBACKS, {**form, "reason": "on fire", "confirm": "yes"}, follow=True)
    assert "Rolled back Rolled in production: 1.0.1 → 1.0.0." in page.content.decode()
    assert serving(template) == "1.0.0"


def test_rollbacks__a_form_without_csrf_token__refused(in_production, deployer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(deployer)
    template, first, second = in_production
    assert client.post(ROLLBACKS, rollback_form(template, first, second)).status_code == 403
    assert serving(template) == "1.0.1"


def test_overview__needs_attention__approvals_waiting_of_visible_templates_only(two_authors_templates, make_user):
    from approvals.services import submit_for_approval

    alice, bob, alices, bobs = two_authors_templates
    for author, template in ((alice, alices), (bob, bobs)):
        submit_for_approval(actor=author, version_id=template.latest_version.pk, environment="production")
    page = signed_in(alice).get(OVERVIEW).content.decode()
    waiting = re.search(r'<div class="card" id="approvals-waiting">(.*?)</div>', page, re.DOTALL).group(1)
    assert "1 approval waiting" in waiting
    assert "Alice&#x27;s prompt 1.0.0" in waiting
    assert "Bob" not in waiting
    analysts = signed_in(make_user("analyst")).get(OVERVIEW).content.decode()
    assert "2 approvals waiting" in analysts


def test_overview__nothing_to_attend_to__said(make_user):
    assert "Nothing: no alert or automatic rollback" in signed_in(make_user("analyst")).get(OVERVIEW).content.decode()


def test_pages__odd_input__no_500(in_production, deployer):
    template, first, second = in_production
    client = signed_in(deployer)
    assert client.get(OVERVIEW, {"q": "a\x00b"}).status_code == 200
    # a template id written another way than URLs write it
    response = client.get(ROLLBACKS, {"template": str(template.pk).replace("-", "").upper()})
    assert response.status_code == 200
    assert f'href="/dashboard/templates/{template.pk}/"' in response.content.decode()
    page = client.post(ROLLBACKS, rollback_form(template, first, second, reason="a\x00b"), follow=True)
    assert "must not contain NUL characters" in unescape(page.content.decode())
    assert serving(template) == "1.0.1"
    assert client.get(template_page(template), {"environment": "moon", "period": "30d"}).status_code == 200


@pytest.mark.parametrize("days", [121, 125, 183, 366])
def test_sparkline__more_buckets_than_pixels__a_point_per_pixel_and_a_flat_trend_stays_flat(days):
    from lifecycle.releases.dashboard.drawing import SPARK_WIDTH, sparkline

    # Given a long custom period (a bucket per day), the same executions every day
    buckets = [f"d{index:03d}" for index in range(days)]
    trend = [{"start": bucket, "executions": 10} for bucket in buckets]
    # When it is drawn
    points = [tuple(map(float, point.split(","))) for point in sparkline(trend, buckets).split()]
    # Then a point per unit of width, from one edge to the other, all at the same height (no last dip)
    assert len(points) == SPARK_WIDTH
    assert points[0][0] == 0.0
    assert points[-1][0] == pytest.approx(SPARK_WIDTH)
    assert {y for _, y in points} == {2.0}


def test_sparkline__more_buckets_than_pixels__a_busy_stretch_at_the_end_shows_at_the_end():
    from lifecycle.releases.dashboard.drawing import SPARK_HEIGHT, SPARK_WIDTH, sparkline

    buckets = [f"d{index:03d}" for index in range(366)]
    trend = [{"start": bucket, "executions": 5} for bucket in buckets[-3:]]
    points = [tuple(map(float, point.split(","))) for point in sparkline(trend, buckets).split()]
    assert len(points) == SPARK_WIDTH
    assert points[-1][1] == 2.0  # the top
    assert {y for _, y in points[:-1]} == {SPARK_HEIGHT - 2.0}  # the bottom


def test_sparkline__fewer_buckets_than_pixels__a_point_per_bucket():
    from lifecycle.releases.dashboard.drawing import SPARK_WIDTH, sparkline

    assert SPARK_WIDTH > 7
    buckets = [f"d{index}" for index in range(7)]
    points = sparkline([{"start": "d3", "executions": 2}], buckets).split()
    assert len(points) == 7
    assert points[3].endswith(",2.0")
