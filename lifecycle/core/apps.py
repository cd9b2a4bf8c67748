from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "lifecycle.core"
    label = "core"
    verbose_name = "Core"
