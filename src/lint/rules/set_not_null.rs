//! `set-not-null`: an `AlterField` that turns a nullable column NOT NULL.

use crate::django::operations::OpKind;
use crate::fix::Fix;
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

## On MySQL and MariaDB
No lock to avoid (`MODIFY ... NOT NULL` rebuilds the table in place, writes allowed), but
the old release's NULL writes fail in strict mode and the `ALTER` fails on NULL rows: the
same two halves, the second one a `RunSQL` with `ALTER TABLE ... MODIFY ... NOT NULL,
ALGORITHM=INPLACE, LOCK=NONE` restating the column type Django's MySQL backend gives the
field. `migrail fix` writes it when that type is known and a `MODIFY` changes nothing else
(no `db_default`, `db_comment`, `db_collation`, relation, JSON or UUID field).

## Safe alternative
Two halves. Before the rollout, fill the NULL rows (the value Django would give them: its
default) and make the field NOT NULL in the state only: the old release may still write
NULL, and the column keeps accepting it. After the rollout (the post phase, or the next
release), fill again what the old release wrote, then prove NOT NULL with a CHECK added
`NOT VALID`, validate it (a weaker lock), and SET NOT NULL, which reuses the check and
skips the scan (PostgreSQL 12+):

```python
# before the rollout
operations = [
    migrations.RunSQL('UPDATE "shop_book" SET "subtitle" = \'\' WHERE "subtitle" IS NULL;', reverse_sql=migrations.RunSQL.noop),
    migrations.SeparateDatabaseAndState(state_operations=[
        migrations.AlterField("book", "subtitle", models.CharField(max_length=200, default="")),
    ]),
]
# after the rollout
operations = [
    migrations.RunSQL('UPDATE "shop_book" SET "subtitle" = \'\' WHERE "subtitle" IS NULL;', reverse_sql=migrations.RunSQL.noop),
    migrations.RunSQL(
        'ALTER TABLE "shop_book" ADD CONSTRAINT "shop_book_subtitle_not_null" CHECK ("subtitle" IS NOT NULL) NOT VALID;',
        reverse_sql='ALTER TABLE "shop_book" DROP CONSTRAINT "shop_book_subtitle_not_null";',
    ),
]
# then
operations = [
    migrations.RunSQL('ALTER TABLE "shop_book" VALIDATE CONSTRAINT "shop_book_subtitle_not_null";', reverse_sql=migrations.RunSQL.noop),
    migrations.RunSQL('ALTER TABLE "shop_book" ALTER COLUMN "subtitle" SET NOT NULL;', reverse_sql='ALTER TABLE "shop_book" ALTER COLUMN "subtitle" DROP NOT NULL;'),
    migrations.RunSQL('ALTER TABLE "shop_book" DROP CONSTRAINT "shop_book_subtitle_not_null";', reverse_sql=migrations.RunSQL.noop),
]
```
"#,
    preflight: Some("NULL rows"),
    engines: crate::lint::rule::Engines::All,
};

impl Rule for SetNotNull {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check_sql(&self, ctx: &SqlContext<'_, '_>, action: &SqlAction, out: &mut Vec<Diagnostic>) {
        let SqlAction::SetNotNull { table, column } = action else {
            return;
        };
        if ctx.op.settings.database.is_mysql() {
            return;
        }
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
        if ctx.settings.database.is_mysql() {
            out.push(on_mysql(ctx, &table, &column, model_name, name, old, field));
            return;
        }
        // A validated CHECK (col IS NOT NULL) lets PostgreSQL skip the scan, and NULL
        // writes already fail: the recipe's last step.
        if ctx.not_null_proven(&table, &column) {
            return;
        }
        let check = format!("{table}_{column}_not_null");
        let (t, c, k) = (ident(&table), ident(&column), ident(&check));
        let m = lower(model_name);
        let state_field = field_code(field, &[]);
        // The value Django's own AlterField would give the NULL rows (its effective
        // default), as SQL.
        let value = backfill_sql(field);
        let only_null = super::same_field_except(old, field, &["null", "default"]);
        let (before, mut after) = halves(&t, &c, value.as_deref(), &m, name, &state_field);
        // After the rollout: what the old release wrote meanwhile filled, prove NOT NULL
        // with a CHECK added NOT VALID (no scan), validated under a weaker lock, then
        // SET NOT NULL, which reuses it and skips the scan.
        after.push(format!(
            "migrations.RunSQL(\n    'ALTER TABLE {t} ADD CONSTRAINT {k} CHECK ({c} IS NOT NULL) NOT VALID;',\n    \
             reverse_sql='ALTER TABLE {t} DROP CONSTRAINT {k};',\n)"
        ));
        let fix = Fix::replace(before, true).then(after, true).then(
            vec![
                format!(
                    "migrations.RunSQL(\n    'ALTER TABLE {t} VALIDATE CONSTRAINT {k};',\n    reverse_sql=migrations.RunSQL.noop,\n)"
                ),
                format!(
                    "migrations.RunSQL(\n    'ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL;',\n    \
                     reverse_sql='ALTER TABLE {t} ALTER COLUMN {c} DROP NOT NULL;',\n)"
                ),
                format!(
                    "migrations.RunSQL(\n    'ALTER TABLE {t} DROP CONSTRAINT {k};',\n    \
                     reverse_sql='ALTER TABLE {t} ADD CONSTRAINT {k} CHECK ({c} IS NOT NULL) NOT VALID;',\n)"
                ),
            ],
            true,
        );
        let fill_note = if value.is_some() { "" } else { FILL_NOTE };
        let diagnostic = Diagnostic::at_operation(
            op,
            format!(
                "AlterField makes column {c} of {t} NOT NULL: the old release may still write NULL, and SET NOT NULL \
                 scans the whole table under an ACCESS EXCLUSIVE lock"
            ),
        )
        .help(format!(
            "two halves. Before the rollout: fill the NULL rows and make the field NOT NULL in the state only \
             (the old release may still write NULL, and the column still takes it). After the rollout (the post \
             phase, or the next release without deploy phases): fill again what the old release wrote, add a \
             CHECK NOT VALID, validate it under a weaker lock, then SET NOT NULL without the scan{fill_note}. \
             On a large table run the UPDATE in batches:\n{}",
            fix.describe()
        ));
        out.push(if only_null && value.is_some() {
            diagnostic.with_fix(fix)
        } else {
            diagnostic
        });
    }
}

/// The fix's two halves as far as both engines share them: before the rollout the NULL
/// rows filled and the field NOT NULL in the state only (the old release may still write
/// NULL: the database keeps accepting it); after it, the rows the old release wrote
/// meanwhile filled again, then the engine's own statements. `value` (escaped for a
/// single-quoted Python string) is what Django would fill them with.
fn halves(
    t: &str,
    c: &str,
    value: Option<&str>,
    m: &str,
    name: &str,
    state_field: &str,
) -> (Vec<String>, Vec<String>) {
    let update: Vec<String> = value
        .map(|v| {
            format!(
                "migrations.RunSQL(\n    'UPDATE {t} SET {c} = {v} WHERE {c} IS NULL;',\n    reverse_sql=migrations.RunSQL.noop,\n)"
            )
        })
        .into_iter()
        .collect();
    let mut before = update.clone();
    before.push(format!(
        "migrations.SeparateDatabaseAndState(state_operations=[\n    migrations.AlterField(\"{m}\", \"{name}\", {state_field}),\n])"
    ));
    (before, update)
}

/// What the help adds when migrail cannot write the value the NULL rows get.
const FILL_NOTE: &str =
    " (the field has no default migrail can write as SQL: fill the NULL rows with the \
                         value you choose, with an UPDATE before each half)";

/// MySQL and MariaDB: no lock to avoid (`MODIFY ... NOT NULL` rebuilds in place, writes
/// allowed), but the old release's NULL writes fail in strict mode and the ALTER fails on
/// NULL rows: the same two halves, with MySQL's statements. The fix when the column's
/// MySQL definition is exactly what Django would restate (`mysql_column_type`).
fn on_mysql(
    ctx: &OpContext<'_>,
    table: &str,
    column: &str,
    model_name: &str,
    name: &str,
    old: &crate::django::fields::FieldDef,
    field: &crate::django::fields::FieldDef,
) -> Diagnostic {
    let (t, c) = (super::mysql_ident(table), super::mysql_ident(column));
    let db = ctx.settings.database.label();
    // MySQL has no gen_random_uuid(); a literal, now() and CURRENT_DATE read the same.
    let value = backfill_sql(field).filter(|v| !v.contains("gen_random_uuid"));
    let m = lower(model_name);
    let state_field = field_code(field, &[]);
    let column_type = mysql_column_type(field);
    let shown_type = column_type
        .clone()
        .unwrap_or_else(|| "<its column type>".to_string());
    let (before, mut after) = halves(&t, &c, value.as_deref(), &m, name, &state_field);
    after.push(format!(
        "migrations.RunSQL(\n    'ALTER TABLE {t} MODIFY {c} {shown_type} NOT NULL, ALGORITHM=INPLACE, LOCK=NONE;',\n    \
         reverse_sql='ALTER TABLE {t} MODIFY {c} {shown_type} NULL, ALGORITHM=INPLACE, LOCK=NONE;',\n)"
    ));
    let shown_after = Fix::replace(after.clone(), true).describe();
    let fix = Fix::replace(before, true);
    let fix = if ctx.deploy_phases {
        fix.then(after, true)
    } else {
        fix.next_release(after, true)
    };
    let fill_note = if value.is_some() { "" } else { FILL_NOTE };
    let diagnostic = Diagnostic::at_operation(
        ctx.op(),
        format!(
            "AlterField makes column {c} of {t} NOT NULL: the old release may still write NULL, which {db} rejects \
             in strict mode, and the ALTER fails if any row still holds NULL"
        ),
    )
    .help(format!(
        "two halves. Before the rollout: fill the NULL rows and make the field NOT NULL in the state only (the old \
         release may still write NULL, and the column still takes it). After the rollout (the post phase, or the \
         next release without deploy phases): fill again what the old release wrote, then MODIFY the column NOT \
         NULL in place (an in-place rebuild, writes allowed; MySQL refuses rather than copy){fill_note}. On a \
         large table run the UPDATE in batches (`... LIMIT 10000`, repeated):\n{}{}",
        fix.describe(),
        if ctx.deploy_phases {
            String::new()
        } else {
            format!("\nthen, in the next release (once no old code runs):\n{shown_after}")
        }
    ));
    let only_null = super::same_field_except(old, field, &["null", "default"]);
    if only_null && value.is_some() && column_type.is_some() {
        diagnostic.with_fix(fix)
    } else {
        diagnostic
    }
}

/// The column definition Django's MySQL backend gives `field`, when a `MODIFY` restating
/// it changes nothing else: no `db_default`, `db_comment` or `db_collation` (a MODIFY
/// would drop them), not an auto-increment key, a relation, JSON or UUID (MariaDB's own
/// types and checks).
fn mysql_column_type(field: &crate::django::fields::FieldDef) -> Option<String> {
    let attributes_kept = !["db_default", "db_comment", "db_collation"]
        .iter()
        .any(|k| field.call.kwarg(k).is_some())
        && !field.call.has_unpacked;
    let plain = !field.class().ends_with("AutoField")
        && !matches!(field.class(), "JSONField" | "UUIDField");
    if !attributes_kept || !plain {
        return None;
    }
    field.mysql_type(false)
}

/// The SQL value Django's `effective_default` gives the NULL rows, escaped to stand in a
/// single-quoted Python string: a literal; an empty
/// JSON container (`default=dict`, `default=list`); or the database's own function for
/// the callables projects use as defaults (`timezone.now`, `date.today`, `uuid.uuid4`).
/// `None` when migrail cannot write it.
fn backfill_sql(field: &crate::django::fields::FieldDef) -> Option<String> {
    use crate::django::python::Value;
    let v = &field.call.kwarg("default")?.value;
    let json = field.class() == "JSONField";
    if !json {
        if let Some(literal) = super::sql_literal(v) {
            return Some(literal);
        }
    }
    let path: &str = match v {
        Value::Ref(p) => p,
        Value::Call(c) if c.args.is_empty() && c.kwargs.is_empty() => &c.callee,
        _ => return None,
    };
    let path = path.trim_start_matches(crate::django::python::LOCAL);
    match path.rsplit('.').next()? {
        "dict" if json => Some(super::in_single_quotes("'{}'")),
        "list" if json => Some(super::in_single_quotes("'[]'")),
        "now" if path.ends_with("timezone.now") => Some("now()".into()),
        "today" if path.ends_with("date.today") => Some("CURRENT_DATE".into()),
        "uuid4" if path.ends_with("uuid.uuid4") => Some("gen_random_uuid()".into()),
        _ => None,
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
