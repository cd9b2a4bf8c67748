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
    response = client.post(ADD, {**form, "description": "ops", "template_id": ""}, follow=True)
    assert response.status_code == 200
    (subscription,) = WebhookSubscription.objects.all()
    assert subscription.events == ["deployment.activated", "alert.fired"]
    page = response.content.decode()
    assert subscription.secret in page  # once, in the message after saving
    # the message names what was added
    added = '/change/">https://hooks.example.com/lifecycle (deployment.activated, alert.fired)</a>” was added'
    assert added in page
    change = client.get(f"/admin/core/webhooksubscription/{subscription.pk}/change/").content.decode()
    assert subscription.secret not in change


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
