"""The access review: `manage.py access_report` and the admin page list every user's access, and flag the
tokens nobody used for 90 days."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.utils import timezone

from lifecycle.core.tokens.models import ApiToken
from lifecycle.core.tokens.services import issue_token
from lifecycle.testing.dashboard import signed_in

pytestmark = pytest.mark.django_db


def report(*args: str) -> str:
    out = io.StringIO()
    call_command("access_report", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def team(make_user, create_template, author):
    """An author maintaining a template directly and another through a group; tokens in every state."""
    now = timezone.now()
    template = create_template(name="Support reply")
    grouped = create_template(name="Refund policy")
    group = Group.objects.create(name="support-team")
    grouped.maintainer_groups.add(group)
    integration = make_user("integration", username="checkout")
    integration.groups.add(group)
    used, _ = issue_token(owner=integration, name="recently-used")
    stale, _ = issue_token(owner=integration, name="forgotten")
    _never, _ = issue_token(owner=integration, name="never-used-new")
    revoked, _ = issue_token(owner=integration, name="revoked-long-ago")
    expired, _ = issue_token(owner=integration, name="expired", expires_at=now + timedelta(days=1))
    ApiToken.objects.filter(pk=used.pk).update(
        last_used_at=now - timedelta(days=2), created_at=now - timedelta(days=400)
    )
    ApiToken.objects.filter(pk=stale.pk).update(
        last_used_at=now - timedelta(days=91), created_at=now - timedelta(days=400)
    )
    ApiToken.objects.filter(pk=revoked.pk).update(
        revoked_at=now - timedelta(days=100), created_at=now - timedelta(days=400)
    )
    ApiToken.objects.filter(pk=expired.pk).update(
        expires_at=now - timedelta(days=1), created_at=now - timedelta(days=400)
    )
    get_user_model().objects.filter(pk=author.pk).update(last_login=now - timedelta(days=1))
    return {"template": template, "author": author, "integration": integration}


def test_access_report__json__every_user_roles_maintainerships_tokens_and_flags(team):
    users = {user["username"]: user for user in json.loads(report("--format", "json"))}
    author, integration = users[team["author"].username], users["checkout"]
    assert author["roles"] == ["author"]
    assert "Support reply" in author["maintains"]
    assert author["lastLogin"] is not None
    assert integration["roles"] == ["integration", "support-team"]
    assert integration["maintains"] == ["Refund policy (via group)"]
    states = {token["name"]: (token["state"], token["unused"]) for token in integration["tokens"]}
    assert states == {
        "recently-used": ("active", False),
        "forgotten": ("active", True),
        "never-used-new": ("active", False),
        "revoked-long-ago": ("revoked", False),
        "expired": ("expired", False),
    }
    assert integration["flags"] == ["token 'forgotten' unused for 90+ days"]
    assert author["flags"] == []


def test_access_report__never_used_and_made_long_ago__flagged(make_user):
    owner = make_user(username="batch")
    token, _ = issue_token(owner=owner, name="cron")
    ApiToken.objects.filter(pk=token.pk).update(created_at=timezone.now() - timedelta(days=120))
    assert "! token 'cron' unused for 90+ days" in report()


def test_access_report__text__readable_summary(team):
    text = report()
    assert "checkout" in text
    assert "token 'forgotten'" in text
    assert "! token 'forgotten' unused for 90+ days" in text
    assert "maintains: Refund policy (via group)" in text
    assert text.rstrip().endswith("with something to look at.")


def test_access_report__no_users__says_so():
    assert report().strip() == "0 user(s); 0 with something to look at."
    assert json.loads(report("--format", "json")) == []


def test_access_report__inactive_user_with_live_token__flagged(make_user):
    owner = make_user(username="leaver")
    issue_token(owner=owner, name="laptop")
    get_user_model().objects.filter(pk=owner.pk).update(is_active=False)
    assert "! inactive user with live tokens" in report()


def test_admin_access_review__superuser__the_same_review(team, make_user):
    page = signed_in(make_user(superuser=True)).get("/admin/releases/accessreview/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-username="checkout" class="flagged"' in html
    assert "token &#x27;forgotten&#x27; unused for 90+ days" in html
    assert "Refund policy (via group)" in html


def test_admin_access_review__staff_not_superuser__403(make_user):
    staff = make_user("author")
    staff.is_staff = True
    staff.save()
    assert signed_in(staff).get("/admin/releases/accessreview/").status_code == 403


def test_admin_access_review__anonymous__sent_to_sign_in(client):
    response = client.get("/admin/releases/accessreview/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_admin_access_review__a_users_own_page__refused(make_user):
    admin = make_user(superuser=True)
    client = signed_in(admin)
    # (the page would show the user's fields, their password hash among them)
    assert client.get(f"/admin/releases/accessreview/{admin.pk}/change/").status_code in (302, 403, 404)
