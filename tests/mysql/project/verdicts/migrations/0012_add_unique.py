from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = [("verdicts", "0011_add_check")]

    operations = [
        migrations.AlterField("item", "name", models.CharField(max_length=40, unique=True)),
    ]
