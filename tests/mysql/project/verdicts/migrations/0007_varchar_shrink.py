from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = [("verdicts", "0006_varchar_widen_past_255_bytes")]

    operations = [
        migrations.AlterField("item", "name", models.CharField(max_length=40)),
    ]
