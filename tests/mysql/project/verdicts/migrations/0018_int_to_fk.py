from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = [("verdicts", "0017_generated_virtual")]

    operations = [
        migrations.AlterField("item", "shelf_ref", models.ForeignKey("verdicts.Shelf", on_delete=django.db.models.deletion.CASCADE, null=True, db_column="shelf_ref")),
    ]
