# Release 1 of dropping Book.legacy_code: the column is nullable, so the new code can stop
# writing it; remove it from Django's state only. The column stays in the database.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("catalog", "0003_book_isbn"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(model_name="book", name="legacy_code"),
            ],
        ),
    ]
