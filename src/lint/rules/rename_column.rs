//! `rename-column`: a `RenameField` or `AlterField` that renames a column in place.

use crate::django::operations::OpKind;
use crate::lint::rule::{
    Axis, Diagnostic, ModelLookup, OpContext, Rule, RuleMeta, Severity, SqlContext,
};
use crate::lint::sql::SqlAction;

use super::{field_code, ident, lower};

pub struct RenameColumn;

static META: RuleMeta = RuleMeta {
    name: "rename-column",
    severity: Severity::Error,
    axis: Axis::Compatibility,
    summary:
        "RenameField or AlterField renames a column that the old release still uses by its old name",
    doc: r#"## What it catches
A `RenameField` (Django renames the column, `<name>_id` for foreign keys), or an
`AlterField` whose column name changes (a new `db_column`, or a field turning into or
out of a relation).

## Why it is unsafe
The old release names the old column in every query on the model: right after the
migration its SELECTs and INSERTs fail with `column "..." does not exist`. The new code,
rolled back, has the same problem the other way round.

## Does not fire when
- the field pins `db_column` to the old column name (Django then renames nothing in the
  database);
- the model was created in the same migration, or Django manages no table for it.

## Safe alternative
Keep the column and rename only the Python attribute: pin the old column name, then
rename the field — neither statement touches the database.

```python
operations = [
    migrations.AlterField("book", "title", models.CharField(max_length=200, db_column="title")),
    migrations.RenameField("book", "title", "name"),
]
```

To really rename the column: add the new column, write both, backfill, switch the reads,
then drop the old column in a later release.
"#,
};

impl Rule for RenameColumn {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check_sql(&self, ctx: &SqlContext<'_, '_>, action: &SqlAction, out: &mut Vec<Diagnostic>) {
        let SqlAction::RenameColumn { table, old, new } = action else {
            return;
        };
        if ctx.is_new_table(table) {
            return;
        }
        let Some((model, name, _)) = ctx.field_for_column(table, old) else {
            return;
        };
        out.push(
            ctx.diagnostic(format!(
                "RunSQL renames column {} of {} to {} while the old release still uses it as `{}.{}.{name}`",
                ident(old),
                ident(table),
                ident(new),
                model.app,
                model.name
            ))
            .help("keep the column name (pin `db_column`), or add the new column, write both, backfill, switch reads, then drop the old one"),
        );
    }

    fn check_operation(&self, ctx: &OpContext<'_>, out: &mut Vec<Diagnostic>) {
        let op = ctx.op();
        if !ctx.touches_database() {
            return;
        }
        let (model_name, old_name, new_name, new_field) = match &op.kind {
            OpKind::RenameField {
                model_name,
                old_name,
                new_name,
            } => (model_name, old_name, new_name, None),
            OpKind::AlterField {
                model_name,
                name,
                field,
            } => (model_name, name, name, Some(field)),
            _ => return,
        };
        if ctx.table_is_exempt(model_name) {
            return;
        }
        let old_field = match ctx.model(model_name) {
            ModelLookup::Known(m) => m.field(old_name),
            ModelLookup::Unknown => None,
        };
        let Some(old_field) = old_field else {
            if new_field.is_none() {
                let label = ctx.model_label(model_name);
                out.push(
                    Diagnostic::at_operation(
                        op,
                        format!(
                            "migrail has no prior state for `{label}.{old_name}`, so it cannot tell whether this \
                             rename changes the column; review it by hand"
                        ),
                    )
                    .info(),
                );
            }
            return;
        };
        let new_field_def = new_field.unwrap_or(old_field);
        if !old_field.has_column() || !new_field_def.has_column() {
            return;
        }
        let (Some(old_column), Some(new_column)) = (
            old_field.column_ref(old_name),
            new_field_def.column_ref(new_name),
        ) else {
            return;
        };
        if old_column == new_column {
            return;
        }
        let table = ctx.table_name(model_name);
        let m = lower(model_name);
        let pinned = field_code(old_field, &[("db_column", &format!("{old_column:?}"))]);
        let help = match &op.kind {
            OpKind::RenameField { .. } => format!(
                "keep the column and rename only the attribute: pin it first, in the same migration:\n    \
                 migrations.AlterField(\"{m}\", \"{old_name}\", {pinned}),\n    \
                 migrations.RenameField(\"{m}\", \"{old_name}\", \"{new_name}\"),\n\
                 (in models.py, keep db_column={old_column:?} on `{new_name}`)"
            ),
            _ => format!(
                "keep db_column={old_column:?} on the field; to really move the data, add the new column, write both, \
                 backfill, switch reads, and drop {} in a later release",
                ident(&old_column)
            ),
        };
        out.push(
            Diagnostic::at_operation(
                op,
                format!(
                    "{} renames column {} of {} to {} while the old release still reads and writes {}",
                    op.name(),
                    ident(&old_column),
                    ident(&table),
                    ident(&new_column),
                    ident(&old_column)
                ),
            )
            .help(help),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::{findings, migration, render, with_initial};

    const RULE: &str = "rename-column";

    #[test]
    fn err_rename_field() {
        let files = with_initial(migration(
            "0002_rename",
            "0001_initial",
            r#"        migrations.RenameField(model_name="book", old_name="title", new_name="name"),"#,
        ));
        assert_eq!(findings(&files, RULE).len(), 1);
        insta::assert_snapshot!(render(&files, RULE));
    }

    #[test]
    fn err_alter_field_db_column() {
        let files = with_initial(migration(
            "0002_col",
            "0001_initial",
            r#"        migrations.AlterField("book", "title", models.CharField(max_length=200, db_column="book_title")),"#,
        ));
        let found = findings(&files, RULE);
        assert_eq!(found.len(), 1);
        assert!(found[0].message.contains("\"book_title\""));
    }

    #[test]
    fn ok_pinned_db_column_recipe() {
        let files = with_initial(migration(
            "0002_rename",
            "0001_initial",
            r#"        migrations.AlterField("book", "title", models.CharField(max_length=200, db_column="title")),
        migrations.RenameField("book", "title", "name"),"#,
        ));
        assert!(findings(&files, RULE).is_empty());
    }

    #[test]
    fn ok_foreign_key_rename_with_pinned_column() {
        let files = with_initial(migration(
            "0002_fk",
            "0001_initial",
            r#"        migrations.CreateModel(name="Review", fields=[("id", models.AutoField(primary_key=True)), ("book", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to="shop.book", db_column="book_id"))]),
        migrations.RenameField("review", "book", "item"),"#,
        ));
        assert!(findings(&files, RULE).is_empty());
    }
}
