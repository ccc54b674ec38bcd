from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = [("verdicts", "0020_integer_to_unsigned")]

    operations = [
        migrations.AlterField("item", "shelf", models.ForeignKey("verdicts.Shelf", on_delete=django.db.models.deletion.CASCADE, null=True, db_index=False)),
    ]
