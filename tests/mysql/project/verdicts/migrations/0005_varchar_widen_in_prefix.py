from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = [("verdicts", "0004_int_to_bigint")]

    operations = [
        migrations.AlterField("item", "name", models.CharField(max_length=60)),
    ]
