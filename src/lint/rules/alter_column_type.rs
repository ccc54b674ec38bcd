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
        let table = ctx.table_name(model_name);
        let column = field.column(name).unwrap_or_else(|| name.clone());
        let old_writes = if DbType::holds_every_value_of(&new_type, &old_type) {
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

#[cfg(test)]
mod tests {
    use crate::lint::testing::{findings, migration, render, with_initial};

    const RULE: &str = "alter-column-type";

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
