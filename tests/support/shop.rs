//! The `shop` app's first two migrations, shared by the tests that run a small project:
//! `Book` with a nullable `legacy` column, then a nullable `subtitle` (pre-deploy).

#![allow(dead_code)]

pub const M1: &str = r#"from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Book",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("title", models.CharField(max_length=200)),
                ("legacy", models.CharField(max_length=20, null=True)),
            ],
        ),
    ]
"#;

pub const M2: &str = r#"from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
        migrations.AddField("book", "subtitle", models.CharField(max_length=200, null=True)),
    ]
"#;
