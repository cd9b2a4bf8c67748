from lifecycle.core.api.routes import api_path
from lifecycle.releases.rules.api import views

urlpatterns = [
    *api_path("rollback/triggers", views.TriggerListCreateApi.as_view(), "rollback-trigger-list"),
    *api_path("rollback/triggers/presets", views.TriggerPresetsApi.as_view(), "rollback-trigger-presets"),
    *api_path("rollback/triggers/<uuid:rule_id>", views.TriggerDetailApi.as_view(), "rollback-trigger-detail"),
    *api_path("alerts", views.AlertListApi.as_view(), "alert-list"),
]
