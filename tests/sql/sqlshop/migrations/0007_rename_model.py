from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("sqlshop", "0006_renames")]

    operations = [
        migrations.RenameModel("Memo", "Note"),
    ]
