from django.apps import AppConfig


class ReleasesConfig(AppConfig):
    name = "lifecycle.releases"
    label = "releases"
    verbose_name = "Releases"
    role_permissions = {
        role: ["view_deployment"] for role in ("author", "technical", "qa", "security", "business", "deployer")
    }
