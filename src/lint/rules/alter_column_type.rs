//! `alter-column-type`: an `AlterField` that changes the column's database type.

use crate::django::fields::DbType;
use crate::django::operations::OpKind;
use crate::lint::rule::{
    Axis, Diagnostic, ModelLookup, OpContext, Rule, RuleMeta, Severity, SqlContext,
};
use crate::lint::sql::SqlAction;

use super::ident;

pub struct AlterColumnType;

static META: RuleMeta = RuleMeta {
    name: "alter-column-type",
    severity: Severity::Error,
    axis: Axis::CompatibilityAndLocking,
    summary: "AlterField changes a column's type in a way PostgreSQL cannot do in place",
    doc: r#"## What it catches
An `AlterField` whose column type changes: another field class with another type
(`IntegerField` to `BigIntegerField`, `CharField` to `IntegerField`), a shorter
`max_length`, other `decimal_places`, fewer `max_digits`.

An auto-created primary key moving from `AutoField` to `BigAutoField` (what Django 6.0's
new `DEFAULT_AUTO_FIELD` generates for every model of a project that never set it) is
reported with every table Django rewrites: the model's, and each one whose foreign key
points to it. Its help leads with keeping the type (`DEFAULT_AUTO_FIELD =
"django.db.models.AutoField"` and no migration).

## Why it is unsafe
- Locking: PostgreSQL rewrites the whole table (and its indexes) under an ACCESS
  EXCLUSIVE lock: the table is unavailable for the duration, minutes on a big table.
- Compatibility: the old release still reads and writes the old type; narrower types
  reject its values.

## Does not fire when
- the change is a widening PostgreSQL does without a rewrite: a longer `max_length`,
  `CharField` to `TextField`, more `max_digits` at the same `decimal_places`;
- the table is created in the same migration, or Django manages no table for it;
- either type is not statically known (a custom field class, a relation).

## Safe alternative
Add a new column of the new type, write to both from the application, backfill in
batches, switch the reads, and drop the old column in a later release.
"#,
    preflight: None,
    engines: crate::lint::rule::Engines::Postgresql,
};

impl Rule for AlterColumnType {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check_sql(&self, ctx: &SqlContext<'_, '_>, action: &SqlAction, out: &mut Vec<Diagnostic>) {
        let SqlAction::AlterColumnType {
            table,
            column,
            new_type,
        } = action
        else {
            return;
        };
        if ctx.is_new_table(table) {
            return;
        }
        let old = ctx.column_type(table, column);
        if old.as_ref().is_some_and(|o| o.widens_in_place_to(new_type)) {
            return;
        }
        let from = old.map_or_else(
            || "a type migrail cannot tell".to_string(),
            |o| o.to_string(),
        );
        out.push(
            ctx.diagnostic(format!(
                "RunSQL changes {} of {} from {from} to {new_type}: unless PostgreSQL can widen it in place, it \
                 rewrites the table under an ACCESS EXCLUSIVE lock, and the old release may write values the new \
                 type rejects",
                ident(column),
                ident(table)
            ))
            .help("add a new column with the new type, write both, backfill in batches, switch reads, then drop the old column"),
        );
    }

    fn check_operation(&self, ctx: &OpContext<'_>, out: &mut Vec<Diagnostic>) {
        let op = ctx.op();
        let OpKind::AlterField {
            model_name,
            name,
            field,
        } = &op.kind
        else {
            return;
        };
        if !ctx.touches_database() || ctx.table_is_exempt(model_name) {
            return;
        }
        let ModelLookup::Known(model) = ctx.model(model_name) else {
            return;
        };
        let Some(old) = model.field(name) else { return };
        let (Some(old_type), Some(new_type)) = (old.db_type(), field.db_type()) else {
            return;
        };
        if old_type.widens_in_place_to(&new_type) {
            return;
        }
        if is_auto_field_upgrade(old, field) {
            out.push(auto_field_upgrade(ctx, model_name, name));
            return;
        }
        let table = ctx.table_name(model_name);
        let column = field.column(name).unwrap_or_else(|| name.clone());
        // A date written into a timestamp column becomes its midnight: nothing rejected,
        // though the old release then reads datetimes where it expects dates.
        let date_to_timestamp =
            old_type.to_string() == "date" && new_type.to_string().starts_with("timestamp");
        let old_writes = if date_to_timestamp {
            ", and the old release, which writes dates, reads back datetimes".to_string()
        } else if DbType::holds_every_value_of(&new_type, &old_type) {
            String::new()
        } else {
            format!(
                ", and the old release still writes {old_type} values that {new_type} may reject"
            )
        };
        out.push(
            Diagnostic::at_operation(
                op,
                format!(
                    "AlterField changes column {} of {} from {old_type} to {new_type}: PostgreSQL rewrites the table under \
                     an ACCESS EXCLUSIVE lock: every query on it waits until the rewrite ends{old_writes}",
                    ident(&column),
                    ident(&table)
                ),
            )
            .help(format!(
                "add a new {new_type} column, write to both from the code, backfill in batches, switch reads, then drop {} \
                 in a later release",
                ident(&column)
            )),
        );
    }
}

/// An auto-created primary key moving from `AutoField` to `BigAutoField`: what Django
/// 3.2's `DEFAULT_AUTO_FIELD` warning and Django 6.0's new default generate for every model
/// of a project that never set it.
fn is_auto_field_upgrade(
    old: &crate::django::fields::FieldDef,
    new: &crate::django::fields::FieldDef,
) -> bool {
    old.class() == "AutoField"
        && new.class() == "BigAutoField"
        && old.primary_key() == Some(true)
        && new.primary_key() == Some(true)
}

/// The finding for that upgrade: every table Django rewrites (the model's and each table
/// whose foreign key points to it), and the safe choice first.
fn auto_field_upgrade(ctx: &OpContext<'_>, model_name: &str, name: &str) -> Diagnostic {
    use crate::django::state::model_key;
    let app = ctx.app();
    let key = model_key(app, model_name);
    let table = ctx.table_name(model_name);
    let mut rewritten = vec![format!("{}.{}", ident(&table), ident(name))];
    rewritten.extend(
        ctx.columns_pointing_to(&key)
            .into_iter()
            .map(|(t, c)| format!("{}.{}", ident(&t), ident(&c))),
    );
    let others = rewritten.len() - 1;
    Diagnostic::at_operation(
        ctx.op(),
        format!(
            "AlterField turns the auto-created primary key of `{}` from AutoField into BigAutoField: Django \
             rewrites {} under ACCESS EXCLUSIVE locks ({}): each table is unavailable while it is \
             rewritten",
            ctx.model_label(model_name),
            if others == 0 {
                "its table".to_string()
            } else {
                format!("its table and the {others} foreign key column(s) pointing to it")
            },
            rewritten.join(", ")
        ),
    )
    .help(format!(
        "keep the type, if this migration comes from the default primary key changing (Django 6.0 \
         makes BigAutoField the default; 3.2 asked to choose) rather than a choice of the project's. \
         Set `DEFAULT_AUTO_FIELD = \
         \"django.db.models.AutoField\"` in the settings (or `default_auto_field = \
         \"django.db.models.AutoField\"` on the `{app}` app's AppConfig), delete this migration, and \
         `makemigrations` generates nothing.\nIf the table needs bigint ids, do it table by table in \
         its own migration at a quiet time, or with a new bigint column filled in batches and swapped in: \
         each rewrite above holds its table for the whole copy"
    ))
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::{findings, migration, render, with_initial};

    const RULE: &str = "alter-column-type";

    #[test]
    fn the_django_6_auto_field_upgrade_names_every_table_and_leads_with_keeping_the_type() {
        let files = with_initial(migration(
            "0002_author",
            "0001_initial",
            r#"        migrations.CreateModel(name="Author", fields=[("id", models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"))]),
        migrations.AddField("book", "author", models.ForeignKey("shop.Author", null=True, on_delete=models.CASCADE)),
        migrations.AddField("author", "mentor", models.ForeignKey("self", null=True, on_delete=models.SET_NULL)),
        migrations.AddField("book", "editor", models.ForeignKey("shop.Editor", null=True, on_delete=models.CASCADE)),"#,
        ));
        let mut files = files;
        files.push(migration(
            "0003_alter_author_id",
            "0002_author",
            r#"        migrations.AlterField("author", "id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),"#,
        ));
        let found = findings(&files, RULE);
        assert_eq!(found.len(), 1);
        let text = render(&files, RULE);
        assert!(
            text.contains("\"shop_author\".\"id\", \"shop_author\".\"mentor_id\", \"shop_book\".\"author_id\")"),
            "the table, its self reference, the foreign key from book, nothing else: {text}"
        );
        assert!(
            text.contains("DEFAULT_AUTO_FIELD = \"django.db.models.AutoField\""),
            "{text}"
        );
        assert!(
            !text.contains("add a new bigint column, write to both"),
            "{text}"
        );
    }

    /// One scan of the foreign keys serves the `AlterField`s of an upgrade, but not across
    /// an operation that adds a relation: the second upgrade sees the key added between.
    #[test]
    fn the_upgrade_sees_a_foreign_key_added_earlier_in_the_same_migration() {
        let mut files = with_initial(migration(
            "0002_author",
            "0001_initial",
            r#"        migrations.CreateModel(name="Author", fields=[("id", models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"))]),
        migrations.CreateModel(name="Editor", fields=[("id", models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"))]),"#,
        ));
        files.push(migration(
            "0003_upgrade",
            "0002_author",
            r#"        migrations.AlterField("editor", "id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
        migrations.AddField("book", "author", models.ForeignKey("shop.Author", null=True, on_delete=models.CASCADE)),
        migrations.AlterField("author", "id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),"#,
        ));
        let found = findings(&files, RULE);
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(
            found[0].message.contains("(\"shop_editor\".\"id\")"),
            "{}",
            found[0].message
        );
        assert!(
            found[1]
                .message
                .contains("(\"shop_author\".\"id\", \"shop_book\".\"author_id\")"),
            "{}",
            found[1].message
        );
    }

    #[test]
    fn a_date_to_timestamp_change_says_reads_differ_not_that_writes_fail() {
        let files = with_initial(migration(
            "0002_published",
            "0001_initial",
            r#"        migrations.AddField("book", "published", models.DateField(null=True)),"#,
        ));
        let mut files = files;
        files.push(migration(
            "0003_published_at",
            "0002_published",
            r#"        migrations.AlterField("book", "published", models.DateTimeField(null=True)),"#,
        ));
        let text = render(&files, RULE);
        assert!(text.contains("reads back datetimes"), "{text}");
        assert!(!text.contains("may reject"), "{text}");
    }

    #[test]
    fn err_integer_to_bigint() {
        let files = with_initial(migration(
            "0002_pages",
            "0001_initial",
            r#"        migrations.AlterField(model_name="book", name="pages", field=models.BigIntegerField(default=0)),"#,
        ));
        assert_eq!(findings(&files, RULE).len(), 1);
        insta::assert_snapshot!(render(&files, RULE));
    }

    #[test]
    fn err_narrowing_varchar_and_scale_change() {
        let files = with_initial(migration(
            "0002_narrow",
            "0001_initial",
            r#"        migrations.AlterField("book", "title", models.CharField(max_length=100)),
        migrations.AlterField("book", "price", models.DecimalField(max_digits=10, decimal_places=3)),"#,
        ));
        let found = findings(&files, RULE);
        assert_eq!(found.len(), 2);
        // varchar(200) -> varchar(100) loses values the old code writes.
        assert!(
            found[0].message.contains("may reject"),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn err_integer_to_bigint_mentions_only_the_rewrite() {
        let files = with_initial(migration(
            "0002_pages",
            "0001_initial",
            r#"        migrations.AlterField("book", "pages", models.BigIntegerField(default=0)),"#,
        ));
        let found = findings(&files, RULE);
        assert_eq!(found.len(), 1);
        assert!(
            found[0].message.contains("rewrites the table"),
            "{}",
            found[0].message
        );
        assert!(
            !found[0].message.contains("may reject"),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn ok_widening_in_place() {
        let files = with_initial(migration(
            "0002_widen",
            "0001_initial",
            r#"        migrations.AlterField("book", "title", models.CharField(max_length=300)),
        migrations.AlterField("book", "isbn", models.TextField()),
        migrations.AlterField("book", "price", models.DecimalField(max_digits=12, decimal_places=2)),"#,
        ));
        assert!(findings(&files, RULE).is_empty());
    }
}
