"""Webhook subscriptions in the admin: superusers only, the secret shown once, the same checks as the API."""

from __future__ import annotations

import pytest
from django.test import override_settings

from lifecycle.core.webhooks.models import WebhookSubscription
from lifecycle.testing.dashboard import signed_in

pytestmark = pytest.mark.django_db

ADD = "/admin/core/webhooksubscription/add/"


def test_admin__superuser_adds_a_subscription__secret_shown_once(make_user):
    client = signed_in(make_user(superuser=True))
    form = {
        "url": "https://hooks.example.com/lifecycle",
        "events": ["deployment.activated", "alert.fired"],
        "active": "on",
    }
    response = client.post(ADD, {**form, "description": "ops", "template_id": ""})
    assert response.status_code == 200
    (subscription,) = WebhookSubscription.objects.all()
    assert subscription.events == ["deployment.activated", "alert.fired"]
    page = response.content.decode()
    # Once, on a page of its own: not in a message, which a cookie or the session table would keep
    assert f'<code class="signing-secret">{subscription.secret}</code>' in page
    assert "https://hooks.example.com/lifecycle" in page
    assert not any(subscription.secret in morsel.value for morsel in response.cookies.values())
    assert subscription.secret not in str(client.session.items())
    for later in ("/admin/core/webhooksubscription/", f"/admin/core/webhooksubscription/{subscription.pk}/change/"):
        assert subscription.secret not in client.get(later).content.decode()


def test_admin__rotate_action__new_secrets_on_a_page_of_their_own(make_user):
    client = signed_in(make_user(superuser=True))
    for index in range(2):
        form = {"url": f"https://hooks.example.com/{index}", "events": ["alert.fired"], "template_id": ""}
        assert client.post(ADD, {**form, "description": "", "active": "on"}).status_code == 200
    before = {subscription.pk: subscription.secret for subscription in WebhookSubscription.objects.all()}
    response = client.post(
        "/admin/core/webhooksubscription/",
        {"action": "rotate_secrets", "_selected_action": [str(pk) for pk in before]},
    )
    assert response.status_code == 200
    page = response.content.decode()
    for subscription in WebhookSubscription.objects.all():
        assert subscription.secret != before[subscription.pk]
        assert f'<code class="signing-secret">{subscription.secret}</code>' in page
        assert before[subscription.pk] not in page
    assert not any(morsel.value for morsel in response.cookies.values() if morsel.key == "messages")


@override_settings(WEBHOOK_ALLOW_PRIVATE_ADDRESSES=False)
def test_admin__private_address__form_error_and_nothing_saved(make_user):
    client = signed_in(make_user(superuser=True))
    form = {"url": "http://169.254.169.254/latest/", "events": ["alert.fired"], "template_id": "", "description": ""}
    response = client.post(ADD, form)
    assert response.status_code == 200
    assert "must reach a public address" in response.content.decode()
    assert not WebhookSubscription.objects.exists()


@pytest.mark.parametrize("roles", [("deployer",), ("analyst",)])
def test_admin__not_a_superuser__no_access(make_user, roles):
    client = signed_in(make_user(*roles))
    # Staff (deployers) are refused; others are sent to the admin's sign-in
    assert client.get(ADD).status_code in (302, 403)
    assert client.get("/admin/core/webhooksubscription/").status_code in (302, 403)
