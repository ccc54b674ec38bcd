//! `add-unique`: a unique constraint or index added to an existing table.

use crate::django::operations::OpKind;
use crate::lint::rule::{
    Axis, Diagnostic, ModelLookup, OpContext, Rule, RuleMeta, Severity, SqlContext,
};
use crate::lint::sql::{ConstraintKind, SqlAction};

use super::ident;

pub struct AddUnique;

static META: RuleMeta = RuleMeta {
    name: "add-unique",
    severity: Severity::Error,
    axis: Axis::CompatibilityAndLocking,
    summary:
        "A unique constraint is added to an existing table, building its index under a write lock",
    doc: r#"## What it catches
`unique=True` added by `AddField` or `AlterField`, an `AddConstraint` of a
`UniqueConstraint`, and an `AlterUniqueTogether` that adds a tuple — on an existing table.

## Why it is unsafe
- Locking: PostgreSQL builds the unique index while holding a SHARE lock: every INSERT,
  UPDATE and DELETE on the table waits for the whole build.
- Compatibility: the migration fails if duplicates exist, and the old release's writes
  that create duplicates start failing.

## Does not fire when
- the table is created in the same migration, or Django manages no table for it.

## Safe alternative
Build the index concurrently, then attach it as the constraint (a quick catalog change),
and tell Django's state what happened. In a migration with `atomic = False`:

```python
operations = [
    migrations.SeparateDatabaseAndState(
        database_operations=[
            migrations.RunSQL(
                'CREATE UNIQUE INDEX CONCURRENTLY "shop_book_isbn_uniq" ON "shop_book" ("isbn");',
                reverse_sql='DROP INDEX CONCURRENTLY "shop_book_isbn_uniq";',
            ),
            migrations.RunSQL(
                'ALTER TABLE "shop_book" ADD CONSTRAINT "shop_book_isbn_uniq" UNIQUE USING INDEX "shop_book_isbn_uniq";',
                reverse_sql='ALTER TABLE "shop_book" DROP CONSTRAINT "shop_book_isbn_uniq";',
            ),
        ],
        state_operations=[migrations.AlterField("book", "isbn", models.CharField(max_length=13, unique=True))],
    ),
]
```
"#,
};

impl Rule for AddUnique {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check_sql(&self, ctx: &SqlContext<'_, '_>, action: &SqlAction, out: &mut Vec<Diagnostic>) {
        let table = match action {
            SqlAction::AddConstraint {
                table,
                kind: ConstraintKind::Unique,
                ..
            }
            | SqlAction::CreateIndex {
                table,
                unique: true,
                concurrently: false,
                ..
            }
            | SqlAction::AddColumn {
                table,
                unique: true,
                ..
            } => table,
            _ => return,
        };
        if ctx.is_new_table(table) {
            return;
        }
        let t = ident(table);
        out.push(
            ctx.diagnostic(format!(
                "RunSQL builds a unique index on {t} while blocking every write to it, and fails on existing duplicates"
            ))
            .help("`CREATE UNIQUE INDEX CONCURRENTLY` (in a migration with `atomic = False`), then `ALTER TABLE ... ADD CONSTRAINT ... UNIQUE USING INDEX ...`"),
        );
    }

    fn check_operation(&self, ctx: &OpContext<'_>, out: &mut Vec<Diagnostic>) {
        let op = ctx.op();
        if !ctx.touches_database() {
            return;
        }
        let (model_name, columns, constraint_name): (&String, Vec<String>, Option<String>) =
            match &op.kind {
                OpKind::AddField {
                    model_name,
                    name,
                    field,
                } => {
                    if field.unique() != Some(true) || !field.has_column() {
                        return;
                    }
                    (
                        model_name,
                        vec![field.column(name).unwrap_or_else(|| name.clone())],
                        None,
                    )
                }
                OpKind::AlterField {
                    model_name,
                    name,
                    field,
                } => {
                    if field.unique() != Some(true) || !field.has_column() {
                        return;
                    }
                    let ModelLookup::Known(model) = ctx.model(model_name) else {
                        return;
                    };
                    match model.field(name).map(|f| f.unique()) {
                        Some(Some(false)) => {}
                        _ => return,
                    }
                    (
                        model_name,
                        vec![field.column(name).unwrap_or_else(|| name.clone())],
                        None,
                    )
                }
                OpKind::AddConstraint {
                    model_name,
                    constraint,
                    ..
                } => {
                    if !constraint.is_unique() {
                        return;
                    }
                    (
                        model_name,
                        self.columns(ctx, model_name, &constraint.fields),
                        constraint.name.clone(),
                    )
                }
                OpKind::AlterUniqueTogether { name, together } => {
                    let ModelLookup::Known(model) = ctx.model(name) else {
                        return;
                    };
                    let (Some(old), Some(new)) = (&model.unique_together, together) else {
                        return;
                    };
                    let Some(added) = new.iter().find(|set| !old.contains(set)) else {
                        return;
                    };
                    (name, self.columns(ctx, name, added), None)
                }
                _ => return,
            };
        if ctx.table_is_exempt(model_name) {
            return;
        }
        let table = ctx.table_name(model_name);
        let cols = columns
            .iter()
            .map(|c| ident(c))
            .collect::<Vec<_>>()
            .join(", ");
        let index =
            constraint_name.unwrap_or_else(|| format!("{table}_{}_uniq", columns.join("_")));
        let (t, i) = (ident(&table), ident(&index));
        out.push(
            Diagnostic::at_operation(
                op,
                format!(
                    "{} adds a unique constraint on {t} ({cols}): the index build blocks every write to {t}, and the \
                     migration fails on existing duplicates",
                    op.name()
                ),
            )
            .help(format!(
                "in a migration with `atomic = False`, build the index concurrently and attach it, keeping this operation \
                 for the state only:\n    \
                 migrations.SeparateDatabaseAndState(\n        database_operations=[\n            \
                 migrations.RunSQL('CREATE UNIQUE INDEX CONCURRENTLY {i} ON {t} ({cols});', reverse_sql='DROP INDEX CONCURRENTLY {i};'),\n            \
                 migrations.RunSQL('ALTER TABLE {t} ADD CONSTRAINT {i} UNIQUE USING INDEX {i};', reverse_sql='ALTER TABLE {t} DROP CONSTRAINT {i};'),\n        \
                 ],\n        state_operations=[<this operation>],\n    ),"
            )),
        );
    }
}

impl AddUnique {
    /// Column names of `fields` of the model, from the state where known.
    fn columns(&self, ctx: &OpContext<'_>, model_name: &str, fields: &[String]) -> Vec<String> {
        fields
            .iter()
            .map(|f| match ctx.model(model_name) {
                ModelLookup::Known(m) => m
                    .field(f)
                    .and_then(|d| d.column(f))
                    .unwrap_or_else(|| f.clone()),
                ModelLookup::Unknown => f.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::{findings, migration, render, with_initial};

    const RULE: &str = "add-unique";

    #[test]
    fn err_alter_field_unique() {
        let files = with_initial(migration(
            "0002_isbn_unique",
            "0001_initial",
            r#"        migrations.AlterField(model_name="book", name="isbn", field=models.CharField(max_length=13, unique=True)),"#,
        ));
        assert_eq!(findings(&files, RULE).len(), 1);
        insta::assert_snapshot!(render(&files, RULE));
    }

    #[test]
    fn err_constraint_together_and_add_field() {
        let files = with_initial(migration(
            "0002_uniques",
            "0001_initial",
            r#"        migrations.AddConstraint("book", models.UniqueConstraint(fields=["title", "isbn"], name="uniq_title_isbn")),
        migrations.AlterUniqueTogether(name="book", unique_together={("title", "price")}),
        migrations.AddField("book", "slug", models.SlugField(null=True, unique=True)),"#,
        ));
        assert_eq!(findings(&files, RULE).len(), 3);
    }

    #[test]
    fn ok_concurrent_recipe_and_new_table() {
        let files = with_initial(migration(
            "0002_isbn_unique",
            "0001_initial",
            r#"        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL('CREATE UNIQUE INDEX CONCURRENTLY "u" ON "shop_book" ("isbn");'),
                migrations.RunSQL('ALTER TABLE "shop_book" ADD CONSTRAINT "u" UNIQUE USING INDEX "u";'),
            ],
            state_operations=[migrations.AlterField("book", "isbn", models.CharField(max_length=13, unique=True))],
        ),
        migrations.CreateModel(name="Shelf", fields=[("id", models.AutoField(primary_key=True)), ("code", models.CharField(max_length=5))]),
        migrations.AlterField("shelf", "code", models.CharField(max_length=5, unique=True)),
        migrations.AlterUniqueTogether(name="shelf", unique_together={("id", "code")}),"#,
        ));
        assert!(findings(&files, RULE).is_empty());
    }
}
