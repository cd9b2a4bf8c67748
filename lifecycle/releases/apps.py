from django.apps import AppConfig


class ReleasesConfig(AppConfig):
    name = "lifecycle.releases"
    label = "releases"
    verbose_name = "Releases"
    role_permissions = {
        role: ["view_deployment"] for role in ("author", "technical", "qa", "security", "business", "deployer")
    }

    def ready(self) -> None:
        # Plug into the hooks of the layers beneath (they cannot import this app).
        from lifecycle.releases import selectors, services
        from templates_app import live_state
        from templates_app.signals import version_created

        live_state.register(selectors.DeploymentLiveState())
        version_created.connect(services.activate_new_version_in_development, dispatch_uid="releases.activate_new")
