from django.db import migrations, models
import django.db.models.functions


class Migration(migrations.Migration):
    dependencies = [("verdicts", "0022_varchar_to_text")]

    operations = [
        migrations.AddField("item", "stamped", models.DateTimeField(db_default=django.db.models.functions.Now())),
    ]
