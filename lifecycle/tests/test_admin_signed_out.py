"""Before signing in, every admin page answers as Django's admin does: the login page (200), or a redirect to
it; never a 500 from a permission rule that expects a signed-in user."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_admin_login_page__signed_out__200():
    assert Client().get("/admin/login/").status_code == 200


@pytest.mark.parametrize(
    "model", list(admin.site._registry), ids=lambda model: f"{model._meta.app_label}.{model._meta.model_name}"
)
def test_admin_changelist_and_add__signed_out__redirected_to_login(model):
    client = Client()
    for view in ("changelist", "add"):
        response = client.get(reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}"))
        assert response.status_code == 302, (view, response.status_code)
        assert response["Location"].startswith("/admin/login/")
