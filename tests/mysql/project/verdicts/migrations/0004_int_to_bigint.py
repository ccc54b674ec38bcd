from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = [("verdicts", "0003_add_literal_default")]

    operations = [
        migrations.AlterField("item", "pages", models.BigIntegerField(default=0)),
    ]
