from lifecycle.core.api.routes import api_path
from templates_app.api import views

urlpatterns = [
    *api_path("versions/<uuid:version_id>/diff", views.VersionDiffApi.as_view(), "version-diff"),
]
