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
A `RunPython` in a migration that does not set `atomic = False`, after an operation that
runs DDL on a table that existed before the migration (any schema operation that emits
SQL, or `RunSQL` with DDL; an `AlterField` of `choices`, `help_text`, `validators`,
`on_delete`, `verbose_name` and Django's other non-database attributes emits none). DDL after the `RunPython`, or only on tables the migration creates, holds no
lock live traffic waits for while the data pass runs.

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
    preflight: None,
    engines: crate::lint::rule::Engines::Postgresql,
};

/// True when the operation runs DDL on a table that existed before the migration (not
/// one of `created`, the models created earlier in it), nested operations included.
/// `silent`: the operations that emit no SQL (an `AlterField` of choices, help_text...).
fn locks_existing_table(
    m: &MigrationFile,
    op: &Operation,
    sql: &SqlCache,
    created: &[String],
    silent: &[ruff_text_size::TextRange],
) -> bool {
    if silent.contains(&op.range()) {
        return false;
    }
    if let OpKind::SeparateDatabaseAndState {
        database_operations,
        ..
    } = &op.kind
    {
        return database_operations
            .iter()
            .any(|inner| locks_existing_table(m, inner, sql, created, silent));
    }
    if let OpKind::RunSQL { .. } = &op.kind {
        return sql.get(m, op).iter().flat_map(|s| &s.actions).any(|a| {
            a.is_schema_change() && !matches!(a, crate::lint::sql::SqlAction::CreateTable { .. })
        });
    }
    if matches!(op.kind, OpKind::CreateModel { .. }) {
        return false;
    }
    let on_new_model = op
        .model()
        .is_some_and(|name| created.iter().any(|c| c.eq_ignore_ascii_case(name)));
    !on_new_model && is_schema_change(m, op, sql)
}

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
        // The first DDL on a table that existed before, in order; models created so far.
        let mut schema_op: Option<&Operation> = None;
        let mut created: Vec<String> = Vec::new();
        for op in &m.operations {
            if let OpKind::CreateModel { name, .. } = &op.kind {
                created.push(name.clone());
            }
            if schema_op.is_none()
                && locks_existing_table(m, op, ctx.sql, &created, &ctx.phase.silent)
            {
                schema_op = Some(op);
            }
            let Some(schema_op) = schema_op else {
                continue;
            };
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

    /// An `AlterField` Django runs without a statement (choices, help_text, validators,
    /// on_delete, verbose_name) holds no lock; a type change does.
    #[test]
    fn only_operations_that_emit_sql_count() {
        let silent = with_initial(migration(
            "0002_choices",
            "0001_initial",
            r#"        migrations.AlterField("book", "title", models.CharField(max_length=200, choices=[("a", "A")], help_text="The title", verbose_name="title")),
        migrations.RunPython(forwards, migrations.RunPython.noop),"#,
        ));
        assert!(
            findings(&silent, RULE).is_empty(),
            "{}",
            render(&silent, RULE)
        );
        let loud = with_initial(migration(
            "0002_longer",
            "0001_initial",
            r#"        migrations.AlterField("book", "title", models.CharField(max_length=300, help_text="The title")),
        migrations.RunPython(forwards, migrations.RunPython.noop),"#,
        ));
        assert_eq!(findings(&loud, RULE).len(), 1);
    }

    /// Schema changes after the data pass, or only on the tables the migration creates,
    /// hold no lock on a live table while it runs.
    #[test]
    fn ok_ddl_after_the_data_or_on_new_tables_only() {
        let after = with_initial(migration(
            "0002_data_then_field",
            "0001_initial",
            r#"        migrations.RunPython(forwards, migrations.RunPython.noop),
        migrations.AddField("book", "slug", models.SlugField(null=True)),"#,
        ));
        assert!(findings(&after, RULE).is_empty());
        let new_table = with_initial(migration(
            "0002_author",
            "0001_initial",
            r#"        migrations.CreateModel(name="Author", fields=[("id", models.AutoField(primary_key=True))]),
        migrations.AddField("author", "name", models.CharField(max_length=10, default="")),
        migrations.RunPython(forwards, migrations.RunPython.noop),"#,
        ));
        assert!(findings(&new_table, RULE).is_empty());
        let existing_after_new = with_initial(migration(
            "0002_author_and_book",
            "0001_initial",
            r#"        migrations.CreateModel(name="Author", fields=[("id", models.AutoField(primary_key=True))]),
        migrations.AddField("book", "slug", models.SlugField(null=True)),
        migrations.RunPython(forwards, migrations.RunPython.noop),"#,
        ));
        assert_eq!(findings(&existing_after_new, RULE).len(), 1);
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
