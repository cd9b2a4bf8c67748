from lifecycle.core.api.routes import api_path
from templates_app.api import views

urlpatterns = [
    *api_path("templates", views.TemplateListCreateApi.as_view(), "template-list"),
    *api_path("templates/<uuid:template_id>", views.TemplateDetailApi.as_view(), "template-detail"),
    *api_path("versions/create", views.VersionCreateApi.as_view(), "version-create"),
    *api_path("versions/<uuid:version_id>", views.VersionDetailApi.as_view(), "version-detail"),
    *api_path("versions/<uuid:version_id>/diff", views.VersionDiffApi.as_view(), "version-diff"),
]
