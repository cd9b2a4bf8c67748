from lifecycle.core.api.routes import api_path
from templates_app.api import views

urlpatterns = [
    *api_path("templates/<uuid:template_id>/maintainers", views.MaintainersApi.as_view(), "template-maintainers"),
    *api_path("versions/<uuid:version_id>/diff", views.VersionDiffApi.as_view(), "version-diff"),
]
