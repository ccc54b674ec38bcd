from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = [("verdicts", "0015_decimal_widen")]

    operations = [
        migrations.AddField("item", "double", models.GeneratedField(expression=models.F("pages") * 2, output_field=models.BigIntegerField(), db_persist=True)),
    ]
