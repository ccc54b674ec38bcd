//! `concurrent-in-atomic-migration`: a concurrent index operation in a migration that
//! Django runs inside a transaction, where PostgreSQL refuses it.

use crate::django::operations::OpKind;
use crate::fix::Fix;
use crate::lint::rule::{Axis, Diagnostic, OpContext, Rule, RuleMeta, Severity, SqlContext};
use crate::lint::sql::SqlAction;

pub struct ConcurrentInAtomicMigration;

static META: RuleMeta = RuleMeta {
    name: "concurrent-in-atomic-migration",
    severity: Severity::Error,
    axis: Axis::Runtime,
    summary:
        "A CONCURRENTLY index operation in a migration without `atomic = False` fails at run time",
    doc: r#"## What it catches
`AddIndexConcurrently` / `RemoveIndexConcurrently`, or `RunSQL` with `CREATE INDEX
CONCURRENTLY`, `DROP INDEX CONCURRENTLY` or `REINDEX ... CONCURRENTLY`, in a migration
that does not set `atomic = False`.

## Why it is unsafe
Django wraps an atomic migration in a transaction, and PostgreSQL refuses concurrent
index operations inside one (`CREATE INDEX CONCURRENTLY cannot run inside a transaction
block`). The migration fails in the middle of the deploy.

## Safe alternative
Set `atomic = False` on the migration and keep the concurrent operation alone in it
(if it fails half-way, nothing else is left half-applied):

```python
class Migration(migrations.Migration):
    atomic = False
    dependencies = [("shop", "0007_previous")]
    operations = [AddIndexConcurrently("book", models.Index(fields=["title"], name="shop_book_title_idx"))]
```
"#,
    preflight: None,
    engines: crate::lint::rule::Engines::Postgresql,
};

const HELP: &str =
    "add `atomic = False` to the Migration class and keep this operation alone in the migration";

impl Rule for ConcurrentInAtomicMigration {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check_operation(&self, ctx: &OpContext<'_>, out: &mut Vec<Diagnostic>) {
        let op = ctx.op();
        let concurrent = matches!(
            op.kind,
            OpKind::AddIndex {
                concurrently: true,
                ..
            } | OpKind::RemoveIndex {
                concurrently: true,
                ..
            }
        );
        if concurrent && ctx.touches_database() && ctx.migration().atomic {
            out.push(
                Diagnostic::at_operation(
                    op,
                    format!(
                        "{} in an atomic migration: PostgreSQL refuses concurrent index operations inside a \
                         transaction, so the migration fails",
                        op.name()
                    ),
                )
                .help(HELP)
                .with_fix(same_operation_outside_a_transaction(ctx)),
            );
        }
    }

    fn check_sql(&self, ctx: &SqlContext<'_, '_>, action: &SqlAction, out: &mut Vec<Diagnostic>) {
        if action.needs_no_transaction() && ctx.op.migration().atomic {
            out.push(
                ctx.diagnostic(format!(
                    "`{}` in an atomic migration: PostgreSQL refuses it inside a transaction, so the migration fails",
                    ctx.statement.text
                ))
                .help(HELP)
                .with_fix(same_operation_outside_a_transaction(ctx.op)),
            );
        }
    }
}

/// The fix: the operation as it is, in a migration with `atomic = False` (the applier
/// sets it, or moves the operation to a migration of its own).
fn same_operation_outside_a_transaction(ctx: &OpContext<'_>) -> Fix {
    let op = ctx.op();
    Fix::replace(vec![ctx.source_text(op.range()).to_string()], false).on(op.range())
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::{findings, migration, render, with_initial};

    const RULE: &str = "concurrent-in-atomic-migration";

    fn with_import(files: Vec<(String, String)>) -> Vec<(String, String)> {
        files
            .into_iter()
            .map(|(p, t)| {
                (
                    p,
                    t.replace(
                        "import django.db.models.deletion",
                        "from django.contrib.postgres.operations import AddIndexConcurrently",
                    ),
                )
            })
            .collect()
    }

    #[test]
    fn err_concurrent_index_in_atomic_migration() {
        let files = with_import(with_initial(migration(
            "0002_idx",
            "0001_initial",
            r#"        AddIndexConcurrently("book", models.Index(fields=["title"], name="t_idx")),
        migrations.RunSQL("CREATE INDEX CONCURRENTLY p_idx ON shop_book (pages)", "DROP INDEX CONCURRENTLY p_idx"),"#,
        )));
        assert_eq!(findings(&files, RULE).len(), 2);
        insta::assert_snapshot!(render(&files, RULE));
    }

    #[test]
    fn ok_atomic_false() {
        let files: Vec<_> = with_import(with_initial(migration(
            "0002_idx",
            "0001_initial",
            r#"        AddIndexConcurrently("book", models.Index(fields=["title"], name="t_idx")),"#,
        )))
        .into_iter()
        .map(|(p, t)| (p, t.replace("    dependencies", "    atomic = False\n    dependencies")))
        .collect();
        assert!(findings(&files, RULE).is_empty());
    }
}
