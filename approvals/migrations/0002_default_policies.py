"""The default approval policies: development none, staging technical -> qa, production technical -> qa ->
security -> business. Editable in the admin afterwards; this only creates what is missing."""

from django.db import migrations

from approvals.defaults import ensure_default_policies


def create_default_policies(apps, schema_editor):
    ensure_default_policies(
        apps.get_model("approvals", "ApprovalPolicy"),
        apps.get_model("approvals", "PolicyStage"),
        apps.get_model("auth", "Group"),
    )


class Migration(migrations.Migration):
    dependencies = [("approvals", "0001_initial"), ("core", "0002_seed_roles")]

    operations = [migrations.RunPython(create_default_policies, migrations.RunPython.noop)]
