import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("sqlshop", "0003_more")]

    operations = [
        migrations.DeleteModel("Tag"),
        migrations.AlterField("book", "stock", models.BigIntegerField(default=0)),
        migrations.AlterField("book", "blurb", models.TextField(blank=True, null=True)),
        migrations.AlterField(
            "book",
            "author",
            models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, to="sqlshop.author"),
        ),
    ]
