from analytics.api import views
from lifecycle.core.api.routes import api_path

# Reports of executions, sent after every LLM request: tried first (lifecycle/urls.py).
hot_urlpatterns = [
    *api_path("executions", views.ExecutionApi.as_view(), "execution-create"),
    *api_path("executions/batch", views.ExecutionBatchApi.as_view(), "execution-batch"),
]

urlpatterns = [
    *api_path("performance/metrics", views.MetricsApi.as_view(), "performance-metrics"),
    *api_path("performance/analytics", views.AnalyticsApi.as_view(), "performance-analytics"),
    *api_path("performance/overview", views.OverviewApi.as_view(), "performance-overview"),
]
