from lifecycle.core.api.routes import api_path
from lifecycle.releases.api import authoring, views
from lifecycle.releases.rules.api import urls as rules_urls

# Render is in hot_urls.py, tried before every other route (lifecycle/urls.py).
urlpatterns = [
    *api_path("templates", authoring.TemplateListCreateApi.as_view(), "template-list"),
    *api_path("templates/bundle", views.BundleApi.as_view(), "template-bundle"),
    *api_path("templates/bundle/<str:set_id>", views.BundleSetApi.as_view(), "template-bundle-set"),
    *api_path("templates/<uuid:template_id>", authoring.TemplateDetailApi.as_view(), "template-detail"),
    *api_path("templates/<uuid:template_id>/resolve", views.ResolveApi.as_view(), "template-resolve"),
    *api_path("templates/<uuid:template_id>/history", views.TemplateHistoryApi.as_view(), "template-history"),
    *api_path(
        "templates/<uuid:template_id>/deployments", views.TemplateDeploymentsApi.as_view(), "template-deployments"
    ),
    *api_path("templates/<uuid:template_id>/dependents", views.DependentsApi.as_view(), "template-dependents"),
    *api_path("versions/create", authoring.VersionCreateApi.as_view(), "version-create"),
    *api_path("versions/<uuid:version_id>", authoring.VersionDetailApi.as_view(), "version-detail"),
    *api_path("versions/<uuid:version_id>/deploy", views.DeployApi.as_view(), "version-deploy"),
    # Promoting an A/B test's variant deploys it: composed here, where deployments are (abtesting is below).
    *api_path("abtests/<uuid:test_id>/promote", views.PromoteApi.as_view(), "abtest-promote"),
    *api_path("rollback/validate", views.RollbackValidateApi.as_view(), "rollback-validate"),
    *api_path("rollback/initiate", views.RollbackInitiateApi.as_view(), "rollback-initiate"),
    *api_path("rollback/emergency", views.RollbackEmergencyApi.as_view(), "rollback-emergency"),
    *api_path("rollback/history", views.RollbackHistoryApi.as_view(), "rollback-history"),
    # approvals' request detail with the reach of its template (composition needs deployments, known here).
    *api_path("approval/requests/<uuid:request_id>", views.ApprovalRequestWithReachApi.as_view(), "approval-request"),
    # Rollback triggers and the alerts they fire (lifecycle.releases.rules).
    *rules_urls.urlpatterns,
]
