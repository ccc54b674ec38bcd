from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = [("verdicts", "0016_generated_stored")]

    operations = [
        migrations.AddField("item", "triple", models.GeneratedField(expression=models.F("pages") * 3, output_field=models.BigIntegerField(), db_persist=False)),
    ]
