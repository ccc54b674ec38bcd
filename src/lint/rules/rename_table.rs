//! `rename-table`: a `RenameModel` or `AlterModelTable` that renames a table in place.

use crate::django::operations::OpKind;
use crate::lint::rule::{
    Axis, Diagnostic, ModelLookup, OpContext, Rule, RuleMeta, Severity, SqlContext,
};
use crate::lint::sql::SqlAction;

use super::ident;

pub struct RenameTable;

static META: RuleMeta = RuleMeta {
    name: "rename-table",
    severity: Severity::Error,
    axis: Axis::Compatibility,
    summary: "RenameModel or AlterModelTable renames a table that the old release still queries",
    doc: r#"## What it catches
A `RenameModel` whose model uses Django's default table name (`<app>_<model>`, so the
table is renamed too), or an `AlterModelTable` that changes the table name.

## Why it is unsafe
The old release queries the old table name: right after the migration all its queries on
the model fail with `relation "..." does not exist`.

## Does not fire when
- `Meta.db_table` pins the old table name (Django renames nothing in the database);
- the model was created in the same migration, or Django manages no table for it.

## Safe alternative
Pin the table name, then rename the model — neither statement touches the database:

```python
operations = [
    migrations.AlterModelTable("Book", "shop_book"),
    migrations.RenameModel("Book", "Title"),
]
```

(and keep `db_table = "shop_book"` in the model's `Meta`). To really move the data, create
the new table, write to both, backfill, switch reads, and drop the old table later.
"#,
};

impl Rule for RenameTable {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check_sql(&self, ctx: &SqlContext<'_, '_>, action: &SqlAction, out: &mut Vec<Diagnostic>) {
        let SqlAction::RenameTable { table, new_name } = action else {
            return;
        };
        if ctx.is_new_table(table) {
            return;
        }
        let Some(model) = ctx.model_for_table(table) else {
            return;
        };
        out.push(
            ctx.diagnostic(format!(
                "RunSQL renames table {} to {} while the old release still queries `{}.{}`",
                ident(table),
                ident(new_name),
                model.app,
                model.name
            ))
            .help("keep the table name (pin `Meta.db_table`), or create the new table and write to both"),
        );
    }

    fn check_operation(&self, ctx: &OpContext<'_>, out: &mut Vec<Diagnostic>) {
        let op = ctx.op();
        if !ctx.touches_database() {
            return;
        }
        let (name, new_table) = match &op.kind {
            OpKind::RenameModel { old_name, new_name } => {
                (old_name, NewTable::RenamedModel(new_name))
            }
            OpKind::AlterModelTable { name, table } => (name, NewTable::Explicit(table.as_ref())),
            _ => return,
        };
        if ctx.table_is_exempt(name) {
            return;
        }
        let ModelLookup::Known(model) = ctx.model(name) else {
            out.push(
                Diagnostic::at_operation(
                    op,
                    format!(
                        "migrail has no prior state for `{}`, so it cannot tell whether its table is renamed; \
                         review it by hand",
                        ctx.model_label(name)
                    ),
                )
                .info(),
            );
            return;
        };
        let Some(old_table) = model.table() else {
            return;
        };
        let new_table = match new_table {
            NewTable::RenamedModel(new_name) => match &model.db_table {
                Some(Some(pinned)) => pinned.clone(),
                _ => format!("{}_{}", model.app, new_name.to_lowercase()),
            },
            NewTable::Explicit(Some(Some(t))) => t.clone(),
            NewTable::Explicit(Some(None)) => {
                format!("{}_{}", model.app, model.name.to_lowercase())
            }
            NewTable::Explicit(None) => return,
        };
        if old_table == new_table {
            return;
        }
        let help = match &op.kind {
            OpKind::RenameModel { old_name, new_name } => format!(
                "pin the table name first, in the same migration, and keep `db_table = {old_table:?}` in Meta:\n    \
                 migrations.AlterModelTable(\"{old_name}\", {old_table:?}),\n    \
                 migrations.RenameModel(\"{old_name}\", \"{new_name}\"),"
            ),
            _ => format!(
                "keep `db_table = {old_table:?}`; to move the data, create {} and write to both tables before \
                 switching reads",
                ident(&new_table)
            ),
        };
        out.push(
            Diagnostic::at_operation(
                op,
                format!(
                    "{} renames table {} to {} while the old release still queries {}",
                    op.name(),
                    ident(&old_table),
                    ident(&new_table),
                    ident(&old_table)
                ),
            )
            .help(help),
        );
    }
}

enum NewTable<'a> {
    RenamedModel(&'a String),
    /// `Some(None)`: back to Django's default name; `None`: not statically known.
    Explicit(Option<&'a Option<String>>),
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::{findings, migration, render, with_initial};

    const RULE: &str = "rename-table";

    #[test]
    fn err_rename_model() {
        let files = with_initial(migration(
            "0002_rename",
            "0001_initial",
            r#"        migrations.RenameModel(old_name="Book", new_name="Title"),"#,
        ));
        assert_eq!(findings(&files, RULE).len(), 1);
        insta::assert_snapshot!(render(&files, RULE));
    }

    #[test]
    fn err_alter_model_table() {
        let files = with_initial(migration(
            "0002_table",
            "0001_initial",
            r#"        migrations.AlterModelTable("book", "catalog_book"),"#,
        ));
        assert_eq!(findings(&files, RULE).len(), 1);
    }

    #[test]
    fn ok_pinned_db_table_recipe() {
        let files = with_initial(migration(
            "0002_rename",
            "0001_initial",
            r#"        migrations.AlterModelTable("Book", "shop_book"),
        migrations.RenameModel("Book", "Title"),"#,
        ));
        assert!(findings(&files, RULE).is_empty());
    }
}
