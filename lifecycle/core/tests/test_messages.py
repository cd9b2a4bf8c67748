"""Django's messages serve the pages (the admin's notices after an action) and are never built for the API
(lifecycle.core.messages): render pays for nothing it does not use."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User

pytestmark = pytest.mark.django_db


def test_admin__an_action__its_notice_on_the_next_page(client):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    response = client.post("/admin/auth/group/add/", {"name": "Editors"}, follow=True)
    assert Group.objects.filter(name="Editors").exists()
    notices = [str(message) for message in response.context["messages"]]
    assert any("Editors" in notice and "added successfully" in notice for notice in notices), notices


def test_api__a_request__no_message_storage_built(client):
    response = client.get("/api/health")
    assert response.status_code in (200, 503)
    assert not hasattr(response.wsgi_request, "_messages")
    assert "messages" not in response.cookies
