//! `add-index-not-concurrently`: an index built on an existing table with a plain
//! `CREATE INDEX`, which blocks writes for the whole build.

use crate::django::operations::OpKind;
use crate::lint::rule::{
    Axis, Diagnostic, ModelLookup, OpContext, Rule, RuleMeta, Severity, SqlContext,
};
use crate::lint::sql::SqlAction;

use super::{field_code, ident, lower, one_line};
use crate::fix::{separate, Fix};

pub struct AddIndexNotConcurrently;

static META: RuleMeta = RuleMeta {
    name: "add-index-not-concurrently",
    severity: Severity::Warning,
    axis: Axis::Locking,
    summary: "An index is built on an existing table without CONCURRENTLY, blocking writes during the build",
    doc: r#"## What it catches
On a table that already exists: `AddIndex`, an `AlterIndexTogether` that adds a tuple,
`db_index=True` added by `AlterField`, an `AddField` of a field Django indexes
(`ForeignKey`, `OneToOneField` without `unique`, `SlugField`, `db_index=True`), and in
`RunSQL`, `CREATE INDEX` without `CONCURRENTLY` and `REINDEX` without `CONCURRENTLY`.

## Why it is unsafe
A plain `CREATE INDEX` holds a SHARE lock on the table for the whole build: every
INSERT, UPDATE and DELETE waits, for minutes on a large table. Requests pile up behind
the lock and the service times out, for the old and the new release alike.

## Does not fire when
- the table is created in the same migration, or Django manages no table for it;
- the index is added with `AddIndexConcurrently` (or `CREATE INDEX CONCURRENTLY`).
Unique indexes are `add-unique`'s.

## Safe alternative
Build the index concurrently, in a migration of its own with `atomic = False`:

```python
from django.contrib.postgres.operations import AddIndexConcurrently

class Migration(migrations.Migration):
    atomic = False
    dependencies = [("shop", "0007_previous")]
    operations = [
        AddIndexConcurrently("book", models.Index(fields=["title"], name="shop_book_title_idx")),
    ]
```

For a field Django indexes, add it with `db_index=False` first, then add the index
concurrently, and finally set `db_index=True` for the state only
(`SeparateDatabaseAndState(state_operations=[AlterField(...)])`).
"#,
    preflight: None,
    engines: crate::lint::rule::Engines::Postgresql,
};

impl Rule for AddIndexNotConcurrently {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check_operation(&self, ctx: &OpContext<'_>, out: &mut Vec<Diagnostic>) {
        let op = ctx.op();
        if !ctx.touches_database() {
            return;
        }
        let (model_name, what, fields) = match &op.kind {
            OpKind::AddIndex {
                model_name,
                index,
                concurrently: false,
            } => (
                model_name,
                format!(
                    "AddIndex builds index {}",
                    index.name.as_deref().map(ident).unwrap_or_default()
                ),
                index.fields.clone(),
            ),
            OpKind::AlterIndexTogether { name, together } => {
                let ModelLookup::Known(model) = ctx.model(name) else {
                    return;
                };
                let old = model.index_together.clone().unwrap_or_default();
                let Some(added) = together.iter().flatten().find(|set| !old.contains(set)) else {
                    return;
                };
                (
                    name,
                    "AlterIndexTogether builds an index".to_string(),
                    added.clone(),
                )
            }
            OpKind::AddField {
                model_name,
                name,
                field,
            } => {
                if !field.has_column()
                    || field.db_index() != Some(true)
                    || field.unique() == Some(true)
                {
                    return;
                }
                (
                    model_name,
                    format!("AddField `{name}` builds its index"),
                    vec![name.clone()],
                )
            }
            OpKind::AlterField {
                model_name,
                name,
                field,
            } => {
                let ModelLookup::Known(model) = ctx.model(model_name) else {
                    return;
                };
                let was = model.field(name).and_then(|f| f.db_index());
                if was != Some(false)
                    || field.db_index() != Some(true)
                    || field.unique() == Some(true)
                    || !field.has_column()
                {
                    return;
                }
                (
                    model_name,
                    format!("AlterField `{name}` builds an index"),
                    vec![name.clone()],
                )
            }
            _ => return,
        };
        if ctx.table_is_exempt(model_name) {
            return;
        }
        let table_name = ctx.table_name(model_name);
        let table = ident(&table_name);
        let m = lower(model_name);
        let (intro, fix) = match &op.kind {
            // The same index as written (class, expressions, condition, opclasses, name).
            OpKind::AddIndex { .. } => {
                let index = op
                    .call
                    .arg(Some(1), "index")
                    .map(|v| ctx.source_text(v.range))
                    .unwrap_or_default();
                (
                    "build it concurrently, alone in a migration with `atomic = False` \
                     (`AddIndexConcurrently` is in django.contrib.postgres.operations):"
                        .to_string(),
                    Fix::replace(
                        vec![format!("AddIndexConcurrently(\"{m}\", {index})")],
                        false,
                    ),
                )
            }
            // Django's own index (`db_index`, `index_together`): built concurrently under
            // the name Django gives it, the state changed as written.
            _ => implicit_index_fix(ctx, model_name, &fields, &table_name),
        };
        let help = format!("{intro}\n{}", fix.describe());
        out.push(
            Diagnostic::at_operation(
                op,
                format!(
                    "{what} on {table} without CONCURRENTLY: every write to {table} waits for the whole build"
                ),
            )
            .help(help)
            .with_fix_unless(
                fields
                    .iter()
                    .any(|f| ctx.migration().changes_field_after(op, model_name, f)),
                fix,
            ),
        );
    }

    fn check_sql(&self, ctx: &SqlContext<'_, '_>, action: &SqlAction, out: &mut Vec<Diagnostic>) {
        match action {
            SqlAction::CreateIndex {
                table,
                unique: false,
                concurrently: false,
                ..
            } if !ctx.is_new_table(table) => {
                let t = ident(table);
                out.push(
                    ctx.diagnostic(format!(
                        "CREATE INDEX on {t} without CONCURRENTLY: every write to {t} waits for the whole build"
                    ))
                    .help(
                        "use `CREATE INDEX CONCURRENTLY`, in a migration with `atomic = False`; \
                         give the RunSQL `reverse_sql='DROP INDEX CONCURRENTLY ...'`",
                    ),
                );
            }
            SqlAction::Reindex {
                concurrently: false,
            } => out.push(
                ctx.diagnostic(
                    "REINDEX without CONCURRENTLY locks out writes to the table for the whole rebuild",
                )
                .help("use `REINDEX ... CONCURRENTLY` (PostgreSQL 12+), in a migration with `atomic = False`"),
            ),
            _ => {}
        }
    }
}

/// The fix for an index Django makes itself (`db_index=True`, a foreign key,
/// `index_together`): the same index built concurrently under the name Django gives it
/// (and its `_like` index for text columns), in a non-atomic migration that changes the
/// state as written. An `AddField` first adds the column without its index.
fn implicit_index_fix(
    ctx: &OpContext<'_>,
    model_name: &str,
    fields: &[String],
    table_name: &str,
) -> (String, Fix) {
    let op = ctx.op();
    let m = lower(model_name);
    let table = ident(table_name);
    // The column of a field this operation adds or changes comes from the operation.
    let op_field = match &op.kind {
        OpKind::AddField { name, field, .. } | OpKind::AlterField { name, field, .. } => {
            Some((name, field))
        }
        _ => None,
    };
    let columns: Vec<String> = fields
        .iter()
        .map(|f| match op_field {
            Some((name, field)) if name == f => field.column(name).unwrap_or_else(|| f.clone()),
            _ => ctx.column_of(model_name, f),
        })
        .collect();
    let refs: Vec<&str> = columns.iter().map(String::as_str).collect();
    let together = matches!(op.kind, OpKind::AlterIndexTogether { .. });
    let name =
        crate::django::names::index_name(table_name, &refs, if together { "_idx" } else { "" });
    let cols = columns
        .iter()
        .map(|c| ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    let mut create = vec![format!(
        "migrations.RunSQL('CREATE INDEX CONCURRENTLY IF NOT EXISTS {n} ON {table} ({cols});', \
         reverse_sql='DROP INDEX CONCURRENTLY IF EXISTS {n};')",
        n = ident(&name)
    )];
    // PostgreSQL: Django adds a `_like` index (pattern operators) for varchar and text.
    let pattern_ops = op_field.and_then(|(_, f)| match f.db_type() {
        Some(crate::django::fields::DbType::Varchar { .. }) => Some("varchar_pattern_ops"),
        Some(crate::django::fields::DbType::Text) => Some("text_pattern_ops"),
        _ => None,
    });
    if let (Some(ops), [column]) = (pattern_ops, columns.as_slice()) {
        let like = crate::django::names::index_name(table_name, &[column.as_str()], "_like");
        create.push(format!(
            "migrations.RunSQL('CREATE INDEX CONCURRENTLY IF NOT EXISTS {n} ON {table} ({c} {ops});', \
             reverse_sql='DROP INDEX CONCURRENTLY IF EXISTS {n};')",
            n = ident(&like),
            c = ident(column)
        ));
    }
    match (&op.kind, op_field) {
        (OpKind::AddField { .. }, Some((name, field))) => (
            "add the column without its index, then build the index concurrently in a migration of \
             its own with `atomic = False`:"
                .to_string(),
            Fix::replace(
                vec![format!(
                    "migrations.AddField(\"{m}\", \"{name}\", {})",
                    field_code(field, &[("db_index", "False")])
                )],
                true,
            )
            .then(
                vec![separate(
                    &[format!(
                        "migrations.AlterField(\"{m}\", \"{name}\", {})",
                        field_code(field, &[])
                    )],
                    &create,
                )],
                false,
            ),
        ),
        _ => (
            "build it concurrently, alone in a migration with `atomic = False`, and change the state \
             as written:"
                .to_string(),
            Fix::replace(
                vec![separate(&[one_line(ctx.source_text(op.range()))], &create)],
                false,
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::{findings, migration, render, with_initial};

    const RULE: &str = "add-index-not-concurrently";

    #[test]
    fn err_add_index() {
        let files = with_initial(migration(
            "0002_title_idx",
            "0001_initial",
            r#"        migrations.AddIndex(model_name="book", index=models.Index(fields=["title"], name="shop_book_title_idx")),"#,
        ));
        assert_eq!(findings(&files, RULE).len(), 1);
        insta::assert_snapshot!(render(&files, RULE));
    }

    #[test]
    fn err_implicit_indexes_and_sql() {
        let files = with_initial(migration(
            "0002_more",
            "0001_initial",
            r#"        migrations.AddField("book", "slug", models.SlugField(null=True)),
        migrations.AlterField("book", "title", models.CharField(max_length=200, db_index=True)),
        migrations.AlterIndexTogether(name="book", index_together={("title", "isbn")}),
        migrations.RunSQL("CREATE INDEX shop_book_pages ON shop_book (pages); REINDEX TABLE shop_book;", migrations.RunSQL.noop),"#,
        ));
        assert_eq!(findings(&files, RULE).len(), 5);
    }

    #[test]
    fn ok_concurrently_and_new_table() {
        let files = with_initial(migration(
            "0002_idx",
            "0001_initial",
            r#"        AddIndexConcurrently("book", models.Index(fields=["title"], name="t_idx")),
        migrations.RunSQL("CREATE INDEX CONCURRENTLY p_idx ON shop_book (pages)", "DROP INDEX CONCURRENTLY p_idx"),
        migrations.CreateModel(name="Shelf", fields=[("id", models.AutoField(primary_key=True)), ("book", models.ForeignKey("shop.Book", on_delete=models.CASCADE))]),
        migrations.AddIndex("shelf", models.Index(fields=["id"], name="s_idx")),
        migrations.RunSQL("CREATE TABLE extra (id int); CREATE INDEX e_idx ON extra (id);", "DROP TABLE extra"),"#,
        ))
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
        .collect::<Vec<_>>();
        assert!(
            findings(&files, RULE).is_empty(),
            "{:#?}",
            findings(&files, RULE)
        );
    }
}
