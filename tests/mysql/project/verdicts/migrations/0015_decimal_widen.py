from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = [("verdicts", "0014_rename_field")]

    operations = [
        migrations.AlterField("item", "price", models.DecimalField(max_digits=10, decimal_places=2, default=0)),
    ]
