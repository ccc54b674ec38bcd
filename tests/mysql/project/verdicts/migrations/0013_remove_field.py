from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = [("verdicts", "0012_add_unique")]

    operations = [
        migrations.RemoveField("item", "gone"),
    ]
