from django.db import migrations, models
from django.db.models import Count, OuterRef, Subquery


def count_pending_executions(apps, schema_editor):
    """Batches pending when this runs get their size: a size of 0 would let one roll-up pass take up to
    PASS_BATCHES of them whatever they hold."""
    PendingBatch = apps.get_model("analytics", "PendingBatch")
    Execution = apps.get_model("analytics", "Execution")
    rows = Execution.objects.filter(batch_id=OuterRef("pk")).order_by().values("batch_id")
    PendingBatch.objects.update(executions=Subquery(rows.annotate(count=Count("pk")).values("count")))


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0002_daily_errors"),
    ]

    operations = [
        migrations.AddField(
            model_name="pendingbatch",
            name="executions",
            # A database default too: processes still running the code before this migration insert
            # batches without the column while it rolls out.
            field=models.PositiveIntegerField(default=0, db_default=0),
        ),
        migrations.RunPython(count_pending_executions, migrations.RunPython.noop),
    ]
