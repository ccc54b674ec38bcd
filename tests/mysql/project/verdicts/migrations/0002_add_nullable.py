from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = [("verdicts", "0001_initial")]

    operations = [
        migrations.AddField("item", "subtitle", models.CharField(max_length=30, null=True)),
    ]
