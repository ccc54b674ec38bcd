from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = [("verdicts", "0021_foreign_key_index_dropped")]

    operations = [
        migrations.AlterField("item", "subtitle", models.TextField(null=True)),
    ]
