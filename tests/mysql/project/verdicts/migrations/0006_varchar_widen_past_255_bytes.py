from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = [("verdicts", "0005_varchar_widen_in_prefix")]

    operations = [
        migrations.AlterField("item", "name", models.CharField(max_length=100)),
    ]
