# New release: the model forgets legacy_code; the column stays for the old release.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("library", "0003_book_subtitle")]
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.RemoveField("book", "legacy_code")],
        ),
    ]
