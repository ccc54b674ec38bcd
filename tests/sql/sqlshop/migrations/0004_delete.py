from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("sqlshop", "0003_more")]

    operations = [
        migrations.DeleteModel("Tag"),
        migrations.AlterField("book", "stock", models.BigIntegerField(default=0)),
        migrations.AlterField("book", "blurb", models.TextField(blank=True, null=True)),
    ]
