from django.apps import AppConfig

_READ = ["view_prompttemplate", "view_templateversion", "view_tag"]


class TemplatesAppConfig(AppConfig):
    name = "templates_app"
    verbose_name = "Prompt templates"
    # What each role may do with these models in the admin (lifecycle.core.roles.sync_role_permissions).
    role_permissions = {
        "author": [*_READ, "add_prompttemplate", "change_prompttemplate", "add_templateversion"],
        **dict.fromkeys(("technical", "qa", "security", "business", "deployer", "analyst"), _READ),
    }
