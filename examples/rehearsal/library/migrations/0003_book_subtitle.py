# New release: a nullable column, safe before the rollout.
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("library", "0002_book_published")]
    operations = [
        migrations.AddField("book", "subtitle", models.CharField(max_length=200, null=True)),
    ]
