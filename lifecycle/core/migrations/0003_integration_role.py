"""The `integration` role: service accounts that render, resolve and report executions for any template."""

from django.db import migrations


def create_role(apps, schema_editor):
    apps.get_model("auth", "Group").objects.get_or_create(name="integration")


class Migration(migrations.Migration):
    dependencies = [("core", "0002_seed_roles")]

    operations = [migrations.RunPython(create_role, migrations.RunPython.noop)]
