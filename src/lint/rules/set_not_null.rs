//! `set-not-null`: an `AlterField` that turns a nullable column NOT NULL.

use crate::django::operations::OpKind;
use crate::fix::{separate, Fix};
use crate::lint::rule::{
    Axis, Diagnostic, ModelLookup, OpContext, Rule, RuleMeta, Severity, SqlContext,
};
use crate::lint::sql::SqlAction;

use super::{field_code, ident, lower};

pub struct SetNotNull;

static META: RuleMeta = RuleMeta {
    name: "set-not-null",
    severity: Severity::Error,
    axis: Axis::CompatibilityAndLocking,
    summary: "AlterField makes a nullable column NOT NULL",
    doc: r#"## What it catches
An `AlterField` that turns `null=True` into `null=False` on an existing table.

## Why it is unsafe
- Compatibility: the old release may still write NULL (it believes the column is
  optional), and those writes now fail.
- Locking: `ALTER COLUMN ... SET NOT NULL` scans the whole table to check every row while
  holding an ACCESS EXCLUSIVE lock: no reads or writes on the table until it finishes.

## Does not fire when
- the table is created in the same migration, or Django manages no table for it;
- the previous nullability is not statically known.

## Safe alternative
Make sure no code writes NULL any more (release 1), then validate a CHECK constraint
without the long lock and let PostgreSQL reuse it for SET NOT NULL (PostgreSQL 12+):

```python
# migration 1
operations = [
    migrations.RunSQL(
        'ALTER TABLE "shop_book" ADD CONSTRAINT "shop_book_subtitle_not_null" CHECK ("subtitle" IS NOT NULL) NOT VALID;',
        reverse_sql='ALTER TABLE "shop_book" DROP CONSTRAINT "shop_book_subtitle_not_null";',
    ),
]
# migration 2
operations = [
    migrations.RunSQL('ALTER TABLE "shop_book" VALIDATE CONSTRAINT "shop_book_subtitle_not_null";', reverse_sql=migrations.RunSQL.noop),
    migrations.SeparateDatabaseAndState(
        database_operations=[
            migrations.RunSQL('ALTER TABLE "shop_book" ALTER COLUMN "subtitle" SET NOT NULL;', reverse_sql='ALTER TABLE "shop_book" ALTER COLUMN "subtitle" DROP NOT NULL;'),
            migrations.RunSQL('ALTER TABLE "shop_book" DROP CONSTRAINT "shop_book_subtitle_not_null";', reverse_sql=migrations.RunSQL.noop),
        ],
        state_operations=[migrations.AlterField("book", "subtitle", models.CharField(max_length=200))],
    ),
]
```
"#,
};

impl Rule for SetNotNull {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check_sql(&self, ctx: &SqlContext<'_, '_>, action: &SqlAction, out: &mut Vec<Diagnostic>) {
        let SqlAction::SetNotNull { table, column } = action else {
            return;
        };
        if ctx.is_new_table(table) || ctx.op.not_null_proven(table, column) {
            return;
        }
        let (t, c) = (ident(table), ident(column));
        out.push(
            ctx.diagnostic(format!(
                "RunSQL sets {c} of {t} NOT NULL: PostgreSQL scans the whole table under an ACCESS EXCLUSIVE lock, \
                 and the old release's INSERTs of NULL fail"
            ))
            .help(format!(
                "prove it first: `ALTER TABLE {t} ADD CONSTRAINT {ck} CHECK ({c} IS NOT NULL) NOT VALID;`, then \
                 `ALTER TABLE {t} VALIDATE CONSTRAINT {ck};` (a weaker lock), then SET NOT NULL and drop the check",
                ck = ident(&format!("{table}_{column}_not_null"))
            )),
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
        if !ctx.touches_database() || ctx.table_is_exempt(model_name) || !field.has_column() {
            return;
        }
        let ModelLookup::Known(model) = ctx.model(model_name) else {
            return;
        };
        let Some(old) = model.field(name) else { return };
        if old.null() != Some(true) || field.null() != Some(false) {
            return;
        }
        let table = ctx.table_name(model_name);
        let column = field.column(name).unwrap_or_else(|| name.clone());
        // A validated CHECK (col IS NOT NULL) lets PostgreSQL skip the scan, and NULL
        // writes already fail: the recipe's last step.
        if ctx.not_null_proven(&table, &column) {
            return;
        }
        let check = format!("{table}_{column}_not_null");
        let (t, c, k) = (ident(&table), ident(&column), ident(&check));
        let m = lower(model_name);
        let state_field = field_code(field, &[]);
        // The fix: the same steps, when the AlterField changes nothing else (a literal
        // default first fills the NULL rows, as Django's own AlterField does).
        let default = field.call.kwarg("default").map(|d| &d.value);
        let fill = match default {
            None => Some(None),
            Some(v) => super::sql_literal(v).map(|lit| {
                Some(format!(
                    "migrations.RunSQL(\n    'UPDATE {t} SET {c} = {lit} WHERE {c} IS NULL;',\n    reverse_sql=migrations.RunSQL.noop,\n)"
                ))
            }),
        };
        let only_null = super::same_field_except(old, field, &["null", "default"]);
        let mut first: Vec<String> = Vec::new();
        if let Some(Some(update)) = &fill {
            first.push(update.clone());
        }
        first.push(format!(
            "migrations.RunSQL(\n    'ALTER TABLE {t} ADD CONSTRAINT {k} CHECK ({c} IS NOT NULL) NOT VALID;',\n    \
             reverse_sql='ALTER TABLE {t} DROP CONSTRAINT {k};',\n)"
        ));
        let fix = Fix::replace(first, true).then(
            vec![
                format!(
                    "migrations.RunSQL(\n    'ALTER TABLE {t} VALIDATE CONSTRAINT {k};',\n    reverse_sql=migrations.RunSQL.noop,\n)"
                ),
                separate(
                    &[format!("migrations.AlterField(\"{m}\", \"{name}\", {state_field})")],
                    &[
                        format!(
                            "migrations.RunSQL(\n    'ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL;',\n    \
                             reverse_sql='ALTER TABLE {t} ALTER COLUMN {c} DROP NOT NULL;',\n)"
                        ),
                        format!(
                            "migrations.RunSQL(\n    'ALTER TABLE {t} DROP CONSTRAINT {k};',\n    \
                             reverse_sql='ALTER TABLE {t} ADD CONSTRAINT {k} CHECK ({c} IS NOT NULL) NOT VALID;',\n)"
                        ),
                    ],
                ),
            ],
            true,
        );
        let diagnostic = Diagnostic::at_operation(
            op,
            format!(
                "AlterField makes column {c} of {t} NOT NULL: the old release may still write NULL, and SET NOT NULL \
                 scans the whole table under an ACCESS EXCLUSIVE lock"
            ),
        )
        .help(format!(
            "validate a CHECK constraint first, then SET NOT NULL without the scan, the state as written:\n{}",
            fix.describe()
        ));
        out.push(if only_null && fill.is_some() {
            diagnostic.with_fix(fix)
        } else {
            diagnostic
        });
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::{findings, migration, render, with_initial};

    const RULE: &str = "set-not-null";

    #[test]
    fn err_null_to_not_null() {
        let files = with_initial(migration(
            "0002_subtitle",
            "0001_initial",
            r#"        migrations.AlterField(model_name="book", name="subtitle", field=models.CharField(max_length=200)),"#,
        ));
        assert_eq!(findings(&files, RULE).len(), 1);
        insta::assert_snapshot!(render(&files, RULE));
    }

    #[test]
    fn ok_state_only_after_validated_check() {
        let files = with_initial(migration(
            "0002_subtitle",
            "0001_initial",
            r#"        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL("""
                ALTER TABLE "shop_book" ADD CONSTRAINT "subtitle_nn" CHECK ("subtitle" IS NOT NULL) NOT VALID;
                ALTER TABLE "shop_book" VALIDATE CONSTRAINT "subtitle_nn";
                ALTER TABLE "shop_book" ALTER COLUMN "subtitle" SET NOT NULL;
                ALTER TABLE "shop_book" DROP CONSTRAINT "subtitle_nn";
            """)],
            state_operations=[migrations.AlterField("book", "subtitle", models.CharField(max_length=200))],
        ),"#,
        ));
        assert!(findings(&files, RULE).is_empty());
    }

    #[test]
    fn err_sql_set_not_null_without_a_validated_check() {
        let files = with_initial(migration(
            "0002_subtitle",
            "0001_initial",
            r#"        migrations.RunSQL("""
            ALTER TABLE shop_book ADD CONSTRAINT subtitle_nn CHECK (subtitle IS NOT NULL) NOT VALID;
            ALTER TABLE shop_book ALTER COLUMN subtitle SET NOT NULL;
        """, migrations.RunSQL.noop),"#,
        ));
        let found = findings(&files, RULE);
        assert_eq!(found.len(), 1);
        // Points at the statement's line inside the string.
        assert_eq!(found[0].line, 12, "{found:#?}");
    }

    #[test]
    fn ok_alter_field_after_a_check_validated_in_an_earlier_migration() {
        let mut files = with_initial(migration(
            "0002_check",
            "0001_initial",
            r#"        migrations.RunSQL('ALTER TABLE "shop_book" ADD CONSTRAINT "nn" CHECK ("subtitle" IS NOT NULL) NOT VALID;', migrations.RunSQL.noop),"#,
        ));
        files.push(migration(
            "0003_validate",
            "0002_check",
            r#"        migrations.RunSQL('ALTER TABLE "shop_book" VALIDATE CONSTRAINT "nn";', migrations.RunSQL.noop),"#,
        ));
        let set = migration(
            "0004_not_null",
            "0003_validate",
            r#"        migrations.AlterField("book", "subtitle", models.CharField(max_length=200)),"#,
        );
        let mut validated = files.clone();
        validated.push(set.clone());
        assert!(findings(&validated, RULE).is_empty());
        // Without the VALIDATE, the check proves nothing yet.
        let mut not_validated = files[..2].to_vec();
        not_validated.push(migration(
            "0004_not_null",
            "0002_check",
            r#"        migrations.AlterField("book", "subtitle", models.CharField(max_length=200)),"#,
        ));
        assert_eq!(findings(&not_validated, RULE).len(), 1);
    }

    #[test]
    fn ok_already_not_null_or_new_table() {
        let files = with_initial(migration(
            "0002_x",
            "0001_initial",
            r#"        migrations.AlterField("book", "title", models.CharField(max_length=200, help_text="t")),
        migrations.CreateModel(name="Shelf", fields=[("id", models.AutoField(primary_key=True)), ("n", models.IntegerField(null=True))]),
        migrations.AlterField("shelf", "n", models.IntegerField()),"#,
        ));
        assert!(findings(&files, RULE).is_empty());
    }
}
