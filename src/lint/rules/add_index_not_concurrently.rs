//! `add-index-not-concurrently`: an index built on an existing table with a plain
//! `CREATE INDEX`, which blocks writes for the whole build.

use crate::django::operations::OpKind;
use crate::lint::rule::{
    Axis, Diagnostic, ModelLookup, OpContext, Rule, RuleMeta, Severity, SqlContext,
};
use crate::lint::sql::SqlAction;

use super::{ident, lower};

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
        let table = ident(&ctx.table_name(model_name));
        let fields = fields
            .iter()
            .map(|f| format!("\"{f}\""))
            .collect::<Vec<_>>()
            .join(", ");
        out.push(
            Diagnostic::at_operation(
                op,
                format!(
                    "{what} on {table} without CONCURRENTLY: every write to {table} waits for the whole build"
                ),
            )
            .help(format!(
                "build it concurrently, alone in a migration with `atomic = False`:\n    \
                 AddIndexConcurrently(\"{m}\", models.Index(fields=[{fields}], name=\"...\")),  \
                 # from django.contrib.postgres.operations",
                m = lower(model_name)
            )),
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
