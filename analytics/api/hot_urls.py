"""Reports of executions, sent after every LLM request: tried before the other routes but render's
(lifecycle/urls.py; Django tries a URL against each route in order)."""

from analytics.api import views
from lifecycle.core.api.routes import api_path

urlpatterns = [
    *api_path("executions", views.ExecutionApi.as_view(), "execution-create"),
    *api_path("executions/batch", views.ExecutionBatchApi.as_view(), "execution-batch"),
]
