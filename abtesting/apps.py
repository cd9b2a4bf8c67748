"""A/B tests of prompt versions (DESIGN.md, layer 3): their states, deterministic assignment of subjects
to variants, and results with statistics you can trust."""

from django.apps import AppConfig

_READ = ["view_abtest", "view_variant"]


class AbtestingConfig(AppConfig):
    name = "abtesting"
    verbose_name = "A/B testing"
    default_auto_field = "django.db.models.BigAutoField"
    # Deployers run tests (start, pause, stop: the admin's actions, through the services) and authors create
    # them: both read them in the admin. Everyone signed in reads them over the API.
    role_permissions = {"deployer": _READ, "author": _READ}
