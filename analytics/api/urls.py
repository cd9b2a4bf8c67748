from analytics.api import views
from lifecycle.core.api.routes import api_path

# Reports of executions are in hot_urls.py, tried before the other routes (lifecycle/urls.py).
urlpatterns = [
    *api_path("performance/metrics", views.MetricsApi.as_view(), "performance-metrics"),
    *api_path("performance/analytics", views.AnalyticsApi.as_view(), "performance-analytics"),
    *api_path("performance/overview", views.OverviewApi.as_view(), "performance-overview"),
]
