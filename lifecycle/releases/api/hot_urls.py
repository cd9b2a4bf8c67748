"""Render, which integrations call on every LLM request: tried before every other route (lifecycle/urls.py).
Django tries a URL against each route in order, and at the end of the list render spent a fifth of its time
in routing."""

from lifecycle.core.api.routes import api_path
from lifecycle.releases.api import views

urlpatterns = [
    *api_path("templates/<uuid:template_id>/render", views.RenderApi.as_view(), "template-render"),
]
