from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = [("verdicts", "0010_add_foreign_key")]

    operations = [
        migrations.AddConstraint("item", models.CheckConstraint(condition=models.Q(pages__gte=0), name="item_pages_ok")),
    ]
