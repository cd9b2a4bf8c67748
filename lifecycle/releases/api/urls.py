from lifecycle.core.api.routes import api_path
from lifecycle.releases.api import authoring, views
from lifecycle.releases.rules.api import urls as rules_urls

urlpatterns = [
    *api_path("templates", authoring.TemplateListCreateApi.as_view(), "template-list"),
    *api_path("templates/<uuid:template_id>", authoring.TemplateDetailApi.as_view(), "template-detail"),
    *api_path("templates/<uuid:template_id>/render", views.RenderApi.as_view(), "template-render"),
    *api_path("templates/<uuid:template_id>/resolve", views.ResolveApi.as_view(), "template-resolve"),
    *api_path("templates/<uuid:template_id>/history", views.TemplateHistoryApi.as_view(), "template-history"),
    *api_path("versions/create", authoring.VersionCreateApi.as_view(), "version-create"),
    *api_path("versions/<uuid:version_id>", authoring.VersionDetailApi.as_view(), "version-detail"),
    *api_path("versions/<uuid:version_id>/deploy", views.DeployApi.as_view(), "version-deploy"),
    # Rollback triggers and the alerts they fire (lifecycle.releases.rules).
    *rules_urls.urlpatterns,
]
