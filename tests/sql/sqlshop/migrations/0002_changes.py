import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("sqlshop", "0001_initial")]

    operations = [
        migrations.AddField("book", "subtitle", models.CharField(max_length=200, null=True)),
        migrations.AddField("book", "stock", models.IntegerField(default=0)),
        migrations.AddField("book", "note", models.CharField(default="it's 100%", max_length=20)),
        migrations.AddField("book", "blurb", models.TextField(blank=True)),
        migrations.AddField("book", "active", models.BooleanField(db_default=True)),
        migrations.AddField(
            "book",
            "editor",
            models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="edited", to="sqlshop.author"),
        ),
        migrations.AlterField("book", "title", models.CharField(max_length=300)),
        migrations.AlterField("book", "subtitle", models.CharField(max_length=200)),
        migrations.AlterField("author", "email", models.EmailField(db_index=True, help_text="Where to write", max_length=254)),
    ]
