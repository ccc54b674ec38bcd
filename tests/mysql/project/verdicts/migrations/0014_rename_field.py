from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = [("verdicts", "0013_remove_field")]

    operations = [
        migrations.RenameField("item", "old_name", "new_name"),
    ]
