import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("sqlshop", "0005_concurrently"),
    ]

    operations = [
        migrations.CreateModel(
            name="Memo",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False)),
                ("body", models.TextField()),
            ],
        ),
        migrations.RenameIndex("book", new_name="book_price_index", old_name="book_price_idx"),
        # A key to a contrib model the project does not ship.
        migrations.AddField(
            "book",
            "owner",
            models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL),
        ),
    ]
