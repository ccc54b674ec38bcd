from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = [("verdicts", "0018_int_to_fk")]

    operations = [
        migrations.RemoveIndex("item", "item_pages_idx"),
    ]
