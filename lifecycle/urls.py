"""Root URLs: the API under /api/, its schema and docs, the admin, the health check, the metrics."""

from django.conf import settings
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from lifecycle.core import views as core_views
from lifecycle.core.observability.metrics import metrics_view

api_patterns: list[URLPattern | URLResolver] = [
    # First the routes integrations call on every LLM request: Django tries the routes in order.
    path("", include("lifecycle.releases.api.hot_urls")),
    path("", include("analytics.api.hot_urls")),
    path("", include("templates_app.api.urls")),
    path("", include("approvals.api.urls")),
    path("", include("analytics.api.urls")),
    path("", include("abtesting.api.urls")),
    path("", include("lifecycle.releases.api.urls")),
    path("", include("lifecycle.core.webhooks.api.urls")),
    path("", include("lifecycle.core.tokens.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("health", core_views.health, name="health"),
]

# The admin is one of the product's faces (reviewers, authors and deployers work in it every day): its own
# name, and "View site" leads to what a user of the API has, the docs page (not a 404 at the site's root).
admin.site.site_header = "Prompt lifecycle"
admin.site.site_title = "Prompt lifecycle"
admin.site.index_title = "Templates, reviews and releases"
admin.site.site_url = "/api/docs/"

urlpatterns: list[URLPattern | URLResolver] = [
    path("api/", include(api_patterns)),
    path("admin/", admin.site.urls),
    path("dashboard/", include("lifecycle.releases.dashboard.urls")),
    # Prometheus's usual path, outside the API: who may read it is in metrics_view.
    path("metrics", metrics_view, name="metrics"),
]

if settings.BENCH_VIEWS:
    urlpatterns.append(path("bench/plain", core_views.bench_plain))

handler400 = "lifecycle.core.api.errors.json_bad_request"
handler403 = "lifecycle.core.api.errors.json_forbidden"
handler404 = "lifecycle.core.api.errors.json_not_found"
handler500 = "lifecycle.core.api.errors.json_server_error"
