"""Template names are unique case-folded, on every database (SQLite's lower() folds only ASCII)."""

from django.db import migrations, models


def fill_name_keys(apps, schema_editor):
    PromptTemplate = apps.get_model("templates_app", "PromptTemplate")
    for template in PromptTemplate.objects.only("pk", "name"):
        PromptTemplate.objects.filter(pk=template.pk).update(name_key=template.name.strip().casefold())


class Migration(migrations.Migration):
    dependencies = [("templates_app", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="prompttemplate",
            name="name_key",
            field=models.CharField(editable=False, max_length=400, null=True),
        ),
        migrations.RunPython(fill_name_keys, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="prompttemplate",
            name="name_key",
            field=models.CharField(editable=False, max_length=400, unique=True),
        ),
        migrations.RemoveConstraint(model_name="prompttemplate", name="template_name_unique_ignoring_case"),
    ]
