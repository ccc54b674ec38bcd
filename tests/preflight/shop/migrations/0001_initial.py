# The table every preflight scenario fills with rows, then migrates.
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            "Owner",
            [("id", models.BigAutoField(primary_key=True)), ("name", models.CharField(max_length=50))],
        ),
        migrations.CreateModel(
            "Item",
            [
                ("id", models.BigAutoField(primary_key=True)),
                ("code", models.CharField(max_length=20, null=True)),
                ("qty", models.IntegerField(null=True)),
                ("api_key", models.CharField(max_length=40, null=True)),
                ("owner", models.BigIntegerField(null=True, db_column="owner_id")),
                ("big", models.BigIntegerField(null=True)),
                ("note", models.TextField(null=True)),
            ],
        ),
    ]
