"""A request id is unique per template rather than across the database (issue 10, point 4).

The new constraint is created before the old one goes, so the table is never without one; rows stored
under the old constraint satisfy the new one (a pair cannot repeat where the id alone did not).
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('analytics', '0003_pending_batch_size'),
    ]

    operations = [
        migrations.AddConstraint(
            model_name='execution',
            constraint=models.UniqueConstraint(fields=('template_id', 'request_id'), name='execution_request'),
        ),
        migrations.AlterField(
            model_name='execution',
            name='request_id',
            field=models.CharField(max_length=200, null=True),
        ),
    ]
