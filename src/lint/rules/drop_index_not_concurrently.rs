//! `drop-index-not-concurrently`: an index dropped with a plain `DROP INDEX`, which
//! takes an ACCESS EXCLUSIVE lock on its table.

use crate::django::operations::OpKind;
use crate::fix::{separate, Fix};
use crate::lint::rule::{
    Axis, Diagnostic, ModelLookup, OpContext, Rule, RuleMeta, Severity, SqlContext,
};
use crate::lint::sql::SqlAction;

use super::{ident, lower};

pub struct DropIndexNotConcurrently;

static META: RuleMeta = RuleMeta {
    name: "drop-index-not-concurrently",
    severity: Severity::Warning,
    axis: Axis::Locking,
    summary: "An index is dropped without CONCURRENTLY, locking its table against reads and writes",
    doc: r#"## What it catches
`RemoveIndex`, `db_index=True` removed by `AlterField`, an `AlterIndexTogether` that
drops a tuple, and in `RunSQL`, `DROP INDEX` without `CONCURRENTLY`. Dropping a unique
is the index drop it is: `unique=True` removed by `AlterField` (with the `_like` index of
a text column), `RemoveConstraint` of a `UniqueConstraint`, an `AlterUniqueTogether` that
drops a tuple.

## Why it is unsafe
A plain `DROP INDEX` takes an ACCESS EXCLUSIVE lock on the table. The drop itself is
quick, but the lock request queues behind any long-running query on the table, and
every query that arrives after it — reads included — queues behind the lock: the table
is unavailable until the slowest running query finishes.

## Does not fire when
- the index is dropped with `RemoveIndexConcurrently` (or `DROP INDEX CONCURRENTLY`);
- Django manages no table for the model.

A unique constraint cannot be dropped concurrently (`ALTER TABLE ... DROP CONSTRAINT`):
the drop is instant once it has the lock, so bound the wait (`migrail run` sets
`lock_timeout` and retries an atomic migration), keep it alone in its migration, and drop
the `_like` index concurrently beforehand (Django drops it with `IF EXISTS`).

## Safe alternative
Drop the index concurrently, alone in a migration with `atomic = False`:

```python
from django.contrib.postgres.operations import RemoveIndexConcurrently

class Migration(migrations.Migration):
    atomic = False
    dependencies = [("shop", "0007_previous")]
    operations = [RemoveIndexConcurrently("book", "shop_book_title_idx")]
```
"#,
    preflight: None,
    engines: crate::lint::rule::Engines::Postgresql,
};

impl Rule for DropIndexNotConcurrently {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check_operation(&self, ctx: &OpContext<'_>, out: &mut Vec<Diagnostic>) {
        let op = ctx.op();
        if !ctx.touches_database() {
            return;
        }
        if let Some(d) = unique_drop(ctx) {
            out.push(d);
            return;
        }
        let (model_name, what, index) = match &op.kind {
            OpKind::RemoveIndex {
                model_name,
                name,
                concurrently: false,
            } => (
                model_name,
                format!("RemoveIndex drops index {}", ident(name)),
                name.clone(),
            ),
            OpKind::AlterField {
                model_name,
                name,
                field,
            } => {
                let ModelLookup::Known(model) = ctx.model(model_name) else {
                    return;
                };
                let Some(old) = model.field(name) else {
                    return;
                };
                if old.db_index() != Some(true)
                    || old.unique() == Some(true)
                    || field.db_index() != Some(false)
                    || !field.has_column()
                {
                    return;
                }
                let table = ctx.table_name(model_name);
                let column = ctx.column_of(model_name, name);
                (
                    model_name,
                    format!("AlterField `{name}` drops the index Django kept on it"),
                    crate::django::names::index_name(&table, &[&column], ""),
                )
            }
            OpKind::AlterIndexTogether { name, together } => {
                let ModelLookup::Known(model) = ctx.model(name) else {
                    return;
                };
                let new = together.clone().unwrap_or_default();
                if !model
                    .index_together
                    .iter()
                    .flatten()
                    .any(|set| !new.contains(set))
                {
                    return;
                }
                let table = ctx.table_name(name);
                let dropped = model
                    .index_together
                    .iter()
                    .flatten()
                    .find(|set| !new.contains(set))
                    .cloned()
                    .unwrap_or_default();
                let columns: Vec<String> = dropped.iter().map(|f| ctx.column_of(name, f)).collect();
                let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
                (
                    name,
                    "AlterIndexTogether drops an index".to_string(),
                    crate::django::names::index_name(&table, &columns, "_idx"),
                )
            }
            _ => return,
        };
        if matches!(ctx.model(model_name), ModelLookup::Known(m) if m.has_table() == Some(false)) {
            return;
        }
        let table = ident(&ctx.table_name(model_name));
        let m = lower(model_name);
        let (intro, fix) = if matches!(op.kind, OpKind::RemoveIndex { .. }) {
            (
                "drop it concurrently, alone in a migration with `atomic = False` \
                 (`RemoveIndexConcurrently` is in django.contrib.postgres.operations):",
                Fix::replace(
                    vec![format!("RemoveIndexConcurrently(\"{m}\", \"{index}\")")],
                    false,
                ),
            )
        } else {
            // Django's own index (no `Meta.indexes` entry): dropped by its name, the state
            // changed as written; the way back builds it again.
            (
                "drop it concurrently, alone in a migration with `atomic = False`, and change the state \
                 as written:",
                Fix::replace(
                    vec![separate(
                        &[super::one_line(ctx.source_text(op.range()))],
                        &own_index_drops(ctx, model_name, &index),
                    )],
                    false,
                ),
            )
        };
        out.push(
            Diagnostic::at_operation(
                op,
                format!(
                    "{what} without CONCURRENTLY: the ACCESS EXCLUSIVE lock on {table} queues behind running \
                     queries and blocks every query that comes after it"
                ),
            )
            .help(format!("{intro}\n{}", fix.describe()))
            .with_fix(fix),
        );
    }

    fn check_sql(&self, ctx: &SqlContext<'_, '_>, action: &SqlAction, out: &mut Vec<Diagnostic>) {
        if let SqlAction::DropIndex {
            names,
            concurrently: false,
        } = action
        {
            out.push(
                ctx.diagnostic(format!(
                    "DROP INDEX {} without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on its table",
                    names.join(", ")
                ))
                .help("use `DROP INDEX CONCURRENTLY`, in a migration with `atomic = False`"),
            );
        }
    }
}

/// A unique dropped: `unique=True` removed, a `UniqueConstraint` removed, a
/// `unique_together` tuple dropped. The constraint cannot be dropped concurrently; its
/// `_like` index can, beforehand.
fn unique_drop(ctx: &OpContext<'_>) -> Option<Diagnostic> {
    let op = ctx.op();
    let (model_name, what, like) = match &op.kind {
        OpKind::AlterField {
            model_name,
            name,
            field,
        } => {
            let ModelLookup::Known(model) = ctx.model(model_name) else {
                return None;
            };
            let old = model.field(name)?;
            let dropped = old.unique() == Some(true)
                && old.primary_key() != Some(true)
                && field.unique() != Some(true)
                && field.primary_key() != Some(true)
                && field.has_column();
            if !dropped {
                return None;
            }
            // Django keeps the `_like` index when the field stays indexed (`db_index=True`):
            // it drops it only for a field neither unique nor indexed any more.
            let text = field.db_index() != Some(true)
                && matches!(
                    old.db_type(),
                    Some(
                        crate::django::fields::DbType::Varchar { .. }
                            | crate::django::fields::DbType::Text
                    )
                );
            let like = text.then(|| {
                crate::django::names::index_name(
                    &ctx.table_name(model_name),
                    &[&ctx.column_of(model_name, name)],
                    "_like",
                )
            });
            (
                model_name,
                format!("AlterField `{name}` drops its unique constraint"),
                like,
            )
        }
        OpKind::RemoveConstraint { model_name, name } => {
            let ModelLookup::Known(model) = ctx.model(model_name) else {
                return None;
            };
            model
                .constraints
                .iter()
                .find(|c| c.name.as_deref() == Some(name.as_str()) && c.is_unique())?;
            (
                model_name,
                format!(
                    "RemoveConstraint drops the unique constraint {}",
                    ident(name)
                ),
                None,
            )
        }
        OpKind::AlterUniqueTogether { name, together } => {
            let ModelLookup::Known(model) = ctx.model(name) else {
                return None;
            };
            let new = together.clone().unwrap_or_default();
            let dropped = model
                .unique_together
                .iter()
                .flatten()
                .find(|set| !new.contains(set))?;
            (
                name,
                format!(
                    "AlterUniqueTogether drops the unique constraint on ({})",
                    dropped.join(", ")
                ),
                None,
            )
        }
        _ => return None,
    };
    if matches!(ctx.model(model_name), ModelLookup::Known(m) if m.has_table() == Some(false)) {
        return None;
    }
    let table = ident(&ctx.table_name(model_name));
    let mut help = "PostgreSQL cannot drop a constraint concurrently; the drop is instant once \
                    it has the lock, so keep the wait bounded (`migrail run` sets lock_timeout \
                    and retries an atomic migration) and keep the operation alone in its \
                    migration, so that a retry repeats nothing else"
        .to_string();
    if let Some(like) = &like {
        help.push_str(&format!(
            ".\nFirst drop its `_like` index concurrently, in an earlier migration with \
             `atomic = False` (Django drops it with IF EXISTS afterwards):\n    \
             migrations.RunSQL('DROP INDEX CONCURRENTLY IF EXISTS {};', \
             reverse_sql=migrations.RunSQL.noop),",
            ident(like)
        ));
    }
    let with_like = if like.is_some() {
        " (and its `_like` index)"
    } else {
        ""
    };
    Some(
        Diagnostic::at_operation(
            op,
            format!(
                "{what}{with_like}: ALTER TABLE {table} DROP CONSTRAINT takes an ACCESS \
                 EXCLUSIVE lock, which queues behind running queries and blocks every query \
                 that comes after it"
            ),
        )
        .help(help),
    )
}

/// The concurrent drops (with the concurrent builds back) of the indexes Django keeps
/// for a field's `db_index` (and its `_like` index on varchar/text) or an
/// `index_together` entry: `index` is the main index's name.
fn own_index_drops(ctx: &OpContext<'_>, model_name: &str, index: &str) -> Vec<String> {
    let op = ctx.op();
    let table = ctx.table_name(model_name);
    let mut columns: Vec<String> = Vec::new();
    let mut like = None;
    match &op.kind {
        OpKind::AlterField { name, .. } => {
            columns.push(ctx.column_of(model_name, name));
            if let ModelLookup::Known(model) = ctx.model(model_name) {
                let ops = model.field(name).and_then(|f| match f.db_type() {
                    Some(crate::django::fields::DbType::Varchar { .. }) => {
                        Some("varchar_pattern_ops")
                    }
                    Some(crate::django::fields::DbType::Text) => Some("text_pattern_ops"),
                    _ => None,
                });
                like = ops.map(|ops| {
                    (
                        crate::django::names::index_name(&table, &[columns[0].as_str()], "_like"),
                        ops,
                    )
                });
            }
        }
        OpKind::AlterIndexTogether { name, together } => {
            if let ModelLookup::Known(model) = ctx.model(name) {
                let new = together.clone().unwrap_or_default();
                if let Some(set) = model
                    .index_together
                    .iter()
                    .flatten()
                    .find(|set| !new.contains(set))
                {
                    columns = set.iter().map(|f| ctx.column_of(model_name, f)).collect();
                }
            }
        }
        _ => {}
    }
    let t = ident(&table);
    let cols = columns
        .iter()
        .map(|c| ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    let mut out = vec![format!(
        "migrations.RunSQL('DROP INDEX CONCURRENTLY IF EXISTS {n};', \
         reverse_sql='CREATE INDEX CONCURRENTLY IF NOT EXISTS {n} ON {t} ({cols});')",
        n = ident(index)
    )];
    if let Some((like, ops)) = like {
        out.push(format!(
            "migrations.RunSQL('DROP INDEX CONCURRENTLY IF EXISTS {n};', \
             reverse_sql='CREATE INDEX CONCURRENTLY IF NOT EXISTS {n} ON {t} ({cols} {ops});')",
            n = ident(&like)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::{findings, migration, render, with_initial};

    const RULE: &str = "drop-index-not-concurrently";

    fn indexed() -> Vec<(String, String)> {
        let mut files = with_initial(migration(
            "0002_idx",
            "0001_initial",
            r#"        migrations.AddIndex("book", models.Index(fields=["title"], name="t_idx")),
        migrations.AlterField("book", "isbn", models.CharField(max_length=13, db_index=True)),"#,
        ));
        files.push(migration("0003_drop", "0002_idx", ""));
        files
    }

    #[test]
    fn err_remove_index() {
        let mut files = indexed();
        files.pop();
        files.push(migration(
            "0003_drop",
            "0002_idx",
            r#"        migrations.RemoveIndex(model_name="book", name="t_idx"),"#,
        ));
        assert_eq!(findings(&files, RULE).len(), 1);
        insta::assert_snapshot!(render(&files, RULE));
    }

    #[test]
    fn err_db_index_removed_and_sql() {
        let mut files = indexed();
        files.pop();
        files.push(migration(
            "0003_drop",
            "0002_idx",
            r#"        migrations.AlterField("book", "isbn", models.CharField(max_length=13)),
        migrations.RunSQL("DROP INDEX IF EXISTS old_idx", migrations.RunSQL.noop),"#,
        ));
        assert_eq!(findings(&files, RULE).len(), 2);
    }

    #[test]
    fn err_unique_dropped_three_ways_with_the_like_index() {
        let mut files = with_initial(migration(
            "0002_unique",
            "0001_initial",
            r#"        migrations.AlterField("book", "isbn", models.CharField(max_length=13, unique=True)),
        migrations.AddConstraint("book", models.UniqueConstraint(fields=["title"], name="uniq_title")),
        migrations.AlterUniqueTogether("book", {("title", "isbn")}),"#,
        ));
        files.push(migration(
            "0003_drop",
            "0002_unique",
            r#"        migrations.AlterField("book", "isbn", models.CharField(max_length=13)),
        migrations.RemoveConstraint("book", "uniq_title"),
        migrations.AlterUniqueTogether("book", set()),"#,
        ));
        let found = findings(&files, RULE);
        assert_eq!(found.len(), 3, "{found:?}");
        insta::assert_snapshot!(render(&files, RULE));
    }

    #[test]
    fn a_unique_turned_into_a_plain_index_keeps_its_like_index() {
        let mut files = with_initial(migration(
            "0002_unique",
            "0001_initial",
            r#"        migrations.AlterField("book", "isbn", models.CharField(max_length=13, unique=True)),"#,
        ));
        files.push(migration(
            "0003_index",
            "0002_unique",
            r#"        migrations.AlterField("book", "isbn", models.CharField(max_length=13, db_index=True)),"#,
        ));
        let text = render(&files, RULE);
        assert_eq!(findings(&files, RULE).len(), 1, "{text}");
        assert!(!text.contains("_like"), "{text}");
    }

    #[test]
    fn ok_unique_kept_or_added() {
        let files = with_initial(migration(
            "0002_unique",
            "0001_initial",
            r#"        migrations.AlterField("book", "isbn", models.CharField(max_length=13, unique=True)),
        migrations.AlterField("book", "isbn", models.CharField(max_length=20, unique=True)),
        migrations.AddConstraint("book", models.CheckConstraint(condition=models.Q(id__gt=0), name="pos")),
        migrations.RemoveConstraint("book", "pos"),"#,
        ));
        assert!(findings(&files, RULE).is_empty());
    }

    #[test]
    fn ok_concurrently() {
        let mut files = indexed();
        files.pop();
        files.push(migration(
            "0003_drop",
            "0002_idx",
            r#"        RemoveIndexConcurrently("book", "t_idx"),
        migrations.RunSQL("DROP INDEX CONCURRENTLY IF EXISTS old_idx", migrations.RunSQL.noop),"#,
        ));
        let files: Vec<_> = files
            .into_iter()
            .map(|(p, t)| {
                (
                    p,
                    t.replace(
                        "import django.db.models.deletion",
                        "from django.contrib.postgres.operations import RemoveIndexConcurrently",
                    ),
                )
            })
            .collect();
        assert!(findings(&files, RULE).is_empty());
    }
}
