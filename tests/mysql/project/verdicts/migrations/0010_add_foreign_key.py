from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = [("verdicts", "0009_add_index")]

    operations = [
        migrations.AddField("item", "shelf", models.ForeignKey("verdicts.Shelf", on_delete=django.db.models.deletion.CASCADE, null=True)),
    ]
