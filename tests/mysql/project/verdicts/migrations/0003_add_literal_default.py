from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = [("verdicts", "0002_add_nullable")]

    operations = [
        migrations.AddField("item", "stock", models.IntegerField(default=3)),
    ]
