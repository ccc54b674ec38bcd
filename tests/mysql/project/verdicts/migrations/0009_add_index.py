from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = [("verdicts", "0008_null_to_not_null")]

    operations = [
        migrations.AddIndex("item", models.Index(fields=["pages"], name="item_pages_idx")),
    ]
