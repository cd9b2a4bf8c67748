"""Roles are Django groups; they exist from the first migration on, so tokens can be minted with them."""

from django.db import migrations

ROLES = ["author", "technical", "qa", "security", "business", "deployer", "analyst"]


def create_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
