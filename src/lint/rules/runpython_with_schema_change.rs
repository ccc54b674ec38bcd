//! `runpython-with-schema-change`: a data migration in the same transaction as schema
//! changes, so the data pass runs while the DDL locks are held.

use crate::django::migration::MigrationFile;
use crate::django::operations::{OpKind, Operation};
use crate::lint::rule::{Axis, Diagnostic, MigrationContext, Rule, RuleMeta, Severity};
use crate::lint::sql::SqlCache;

pub struct RunpythonWithSchemaChange;

static META: RuleMeta = RuleMeta {
    name: "runpython-with-schema-change",
    severity: Severity::Warning,
    axis: Axis::Locking,
    summary: "RunPython runs in the same atomic migration as schema changes, holding their locks",
    doc: r#"## What it catches
A `RunPython` in a migration that also changes the schema (any operation that runs DDL,
or `RunSQL` with DDL) and does not set `atomic = False`.

## Why it is unsafe
Django runs an atomic migration in one transaction: the locks the DDL took (ACCESS
EXCLUSIVE for most `ALTER TABLE`s) are held until the data pass over every row
finishes. The table is unavailable for the whole backfill.

## Safe alternative
Put the data migration in a migration of its own, non-atomic, updating in batches:

```python
class Migration(migrations.Migration):
    atomic = False
    dependencies = [("shop", "0007_book_slug")]
    operations = [migrations.RunPython(backfill_slugs_in_batches, migrations.RunPython.noop)]
```
"#,
};

/// True when the operation runs DDL (nested database operations included).
fn is_schema_change(m: &MigrationFile, op: &Operation, sql: &SqlCache) -> bool {
    match &op.kind {
        OpKind::RunPython { .. }
        | OpKind::Unknown { .. }
        | OpKind::AlterModelOptions { .. }
        | OpKind::StateOnlyModelChange { .. } => false,
        OpKind::RunSQL { .. } => sql
            .get(m, op)
            .iter()
            .flat_map(|s| &s.actions)
            .any(|a| a.is_schema_change()),
        OpKind::SeparateDatabaseAndState {
            database_operations,
            ..
        } => database_operations
            .iter()
            .any(|inner| is_schema_change(m, inner, sql)),
        _ => true,
    }
}

impl Rule for RunpythonWithSchemaChange {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check_migration(&self, ctx: &MigrationContext<'_>, out: &mut Vec<Diagnostic>) {
        let m = ctx.migration;
        if !m.atomic {
            return;
        }
        let Some(schema_op) = m
            .operations
            .iter()
            .find(|op| is_schema_change(m, op, ctx.sql))
        else {
            return;
        };
        for op in &m.operations {
            if matches!(op.kind, OpKind::RunPython { .. }) {
                out.push(
                    Diagnostic::at_operation(
                        op,
                        format!(
                            "RunPython runs in the same transaction as {}: the data pass holds its locks until \
                             every row is processed",
                            schema_op.name()
                        ),
                    )
                    .help(
                        "move the RunPython to a migration of its own with `atomic = False`, and update in batches",
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::{findings, migration, render, with_initial};

    const RULE: &str = "runpython-with-schema-change";

    #[test]
    fn err_data_and_schema_together() {
        let files = with_initial(migration(
            "0002_slug",
            "0001_initial",
            r#"        migrations.AddField("book", "slug", models.SlugField(null=True)),
        migrations.RunPython(forwards, migrations.RunPython.noop),"#,
        ));
        assert_eq!(findings(&files, RULE).len(), 1);
        insta::assert_snapshot!(render(&files, RULE));
    }

    #[test]
    fn ok_data_alone_or_non_atomic_or_dml_sql() {
        let alone = with_initial(migration(
            "0002_data",
            "0001_initial",
            r#"        migrations.RunSQL("UPDATE shop_book SET pages = 1", migrations.RunSQL.noop),
        migrations.RunPython(forwards, migrations.RunPython.noop),"#,
        ));
        assert!(findings(&alone, RULE).is_empty());
        let non_atomic: Vec<_> = with_initial(migration(
            "0002_slug",
            "0001_initial",
            r#"        migrations.AddField("book", "slug", models.SlugField(null=True)),
        migrations.RunPython(forwards, migrations.RunPython.noop),"#,
        ))
        .into_iter()
        .map(|(p, t)| {
            (
                p,
                t.replace("    dependencies", "    atomic = False\n    dependencies"),
            )
        })
        .collect();
        assert!(findings(&non_atomic, RULE).is_empty());
    }
}
