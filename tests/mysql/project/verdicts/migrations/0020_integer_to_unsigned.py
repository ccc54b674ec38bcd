from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = [("verdicts", "0019_remove_index")]

    operations = [
        migrations.AlterField("item", "stock", models.PositiveIntegerField(default=3)),
    ]
