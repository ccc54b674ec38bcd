from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = [("verdicts", "0007_varchar_shrink")]

    operations = [
        migrations.AlterField("item", "note", models.CharField(max_length=20, default="")),
    ]
