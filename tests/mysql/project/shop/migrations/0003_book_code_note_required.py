from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_book_subtitle")]

    # Fails on MySQL/MariaDB half way: the column is added, then the NULL rows of `note`
    # refuse NOT NULL.
    operations = [
        migrations.AddField("book", "code", models.CharField(max_length=10, null=True)),
        migrations.AlterField("book", "note", models.CharField(max_length=20)),
    ]
