from django.apps import AppConfig


class AbtestingConfig(AppConfig):
    name = "abtesting"
    verbose_name = "A/B testing"
    default_auto_field = "django.db.models.BigAutoField"
