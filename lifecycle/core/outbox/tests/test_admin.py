"""The deliveries in the admin: superusers read them with their attempts; nobody edits them."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from lifecycle.core.outbox.models import Delivery
from lifecycle.core.outbox.services import deliver_due

pytestmark = pytest.mark.django_db

LIST = "/admin/core/delivery/"


def client_of(user):
    client = Client()
    client.force_login(user)
    return client


def test_admin__superuser__lists_deliveries_and_shows_each_with_its_attempts_but_never_the_secret(
    sent_deliveries, receiver, secret, admin_client
):
    [delivery] = sent_deliveries(1, statuses=[503])
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.created_at)
    deliver_due()

    listing = admin_client.get(LIST)
    assert listing.status_code == 200
    assert "alert.fired" in listing.text
    assert receiver.url in listing.text

    page = admin_client.get(f"{LIST}{delivery.pk}/change/")
    assert page.status_code == 200
    assert "HTTP 503: answered 503" in page.text  # the first attempt
    assert "delivered" in page.text
    assert secret not in page.text
    assert secret.removeprefix("whsec_") not in page.text
    assert "Save" not in page.text  # read-only


def test_admin__staff_without_superuser__may_not_see_deliveries(sent_deliveries):
    sent_deliveries(1)
    deployer = User.objects.create_user("deployer", is_staff=True)
    deployer.groups.add(Group.objects.get_or_create(name="deployer")[0])
    client = client_of(deployer)

    assert client.get(LIST).status_code == 403
    assert client.get(f"{LIST}{Delivery.objects.get().pk}/change/").status_code == 403
    assert "/admin/core/delivery/" not in client.get("/admin/").text


def test_admin__superuser__may_not_add_change_or_delete(sent_deliveries, secret, admin_client):
    [delivery] = sent_deliveries(1)
    assert admin_client.get(f"{LIST}add/").status_code == 403
    assert admin_client.post(f"{LIST}{delivery.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Delivery.objects.filter(pk=delivery.pk).exists()


def test_admin__list__same_number_of_queries_for_more_deliveries(
    sent_deliveries, admin_client, django_assert_num_queries
):
    sent_deliveries(2)
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(LIST).status_code == 200
    sent_deliveries(6, statuses=[500, 500])
    with django_assert_num_queries(len(few)):
        assert admin_client.get(LIST).status_code == 200
