//! `rename-table`: a `RenameModel` or `AlterModelTable` that renames a table in place.

use crate::django::operations::OpKind;
use crate::fix::{Fix, Pin};
use crate::lint::rule::{
    Axis, Diagnostic, ModelLookup, OpContext, Rule, RuleMeta, Severity, SqlContext,
};
use crate::lint::sql::SqlAction;

use super::{field_code, lower};

pub struct RenameTable;

static META: RuleMeta = RuleMeta {
    name: "rename-table",
    severity: Severity::Error,
    axis: Axis::Compatibility,
    summary: "RenameModel or AlterModelTable renames a table that the old release still queries",
    doc: r#"## What it catches
A `RenameModel` whose model uses Django's default table name (`<app>_<model>`, so the
table is renamed too), or an `AlterModelTable` that changes the table name: the join
tables of the model's many-to-many fields (`<table>_<field>`) are renamed with it, and the
message names them. Also a `RenameField` of a many-to-many field without `through` or
`db_table`: Django renames its join table.

## Why it is unsafe
The old release queries the old table name: right after the migration all its queries on
the model fail with `relation "..." does not exist`.

## Does not fire when
- `Meta.db_table` pins the old table name (Django renames nothing in the database), or
  `db_table=` pins a many-to-many field's join table;
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
    preflight: None,
    engines: crate::lint::rule::Engines::All,
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
            if let Some((owner, field)) = ctx.join_table_owner(table) {
                out.push(
                    ctx.diagnostic(format!(
                        "RunSQL renames table {} to {}, the join table of many-to-many field `{}.{}.{field}`, \
                         while the old release still queries it",
                        ctx.quote(table),
                        ctx.quote(new_name),
                        owner.app,
                        owner.name
                    ))
                    .help(format!(
                        "keep the join table's name (pin `db_table={table:?}` on `{field}`), or create the new \
                         table and write to both"
                    )),
                );
            }
            return;
        };
        out.push(
            ctx.diagnostic(format!(
                "RunSQL renames table {} to {} while the old release still queries `{}.{}`",
                ctx.quote(table),
                ctx.quote(new_name),
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
            OpKind::RenameField {
                model_name,
                old_name,
                new_name,
            } => {
                m2m_rename(ctx, model_name, old_name, new_name, out);
                return;
            }
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
        let mut fix = None;
        let help = match &op.kind {
            OpKind::RenameModel { old_name, new_name } => {
                let f = Fix::replace(
                    vec![
                        format!("migrations.AlterModelTable(\"{old_name}\", {old_table:?})"),
                        format!("migrations.RenameModel(\"{old_name}\", \"{new_name}\")"),
                    ],
                    true,
                );
                let text = format!(
                    "pin the table name first, in the same migration, and keep `db_table = {old_table:?}` in Meta:\n{}",
                    f.describe()
                );
                fix = Some(f.pinning(Pin {
                    model: new_name.clone(),
                    field: None,
                    keyword: "db_table".to_string(),
                    value: format!("{old_table:?}"),
                }));
                text
            }
            _ => format!(
                "keep `db_table = {old_table:?}`; to move the data, create {} and write to both tables before \
                 switching reads",
                ctx.quote(&new_table)
            ),
        };
        // The auto-created join tables of its many-to-many fields follow the table's name.
        let joins: Vec<String> = model
            .fields
            .iter()
            .filter_map(|(f, def)| def.join_table(&old_table, f))
            .map(|t| ctx.quote(&t))
            .collect();
        let joins = if joins.is_empty() {
            String::new()
        } else {
            format!(
                ", and the join tables of its many-to-many fields ({}) with it",
                super::capped_list(&joins, 5)
            )
        };
        let diagnostic = Diagnostic::at_operation(
            op,
            format!(
                "{} renames table {} to {}{joins} while the old release still queries {}",
                op.name(),
                ctx.quote(&old_table),
                ctx.quote(&new_table),
                ctx.quote(&old_table)
            ),
        )
        .help(help);
        out.push(match fix {
            Some(fix) => diagnostic.with_fix(fix),
            None => diagnostic,
        });
    }
}

/// `RenameField` of a many-to-many field renames its auto-created join table.
fn m2m_rename(
    ctx: &OpContext<'_>,
    model_name: &str,
    old_name: &str,
    new_name: &str,
    out: &mut Vec<Diagnostic>,
) {
    if ctx.table_is_exempt(model_name) {
        return;
    }
    let ModelLookup::Known(model) = ctx.model(model_name) else {
        return;
    };
    let (Some(field), Some(table)) = (model.field(old_name), model.table()) else {
        return;
    };
    let Some(old_join) = field.join_table(&table, old_name) else {
        return;
    };
    if field.call.kwarg("db_table").is_some() {
        return;
    }
    let new_join = format!("{table}_{new_name}");
    let m = lower(model_name);
    let pinned = field_code(field, &[("db_table", &format!("{old_join:?}"))]);
    let fix = Fix::replace(
        vec![
            format!("migrations.AlterField(\"{m}\", \"{old_name}\", {pinned})"),
            format!("migrations.RenameField(\"{m}\", \"{old_name}\", \"{new_name}\")"),
        ],
        true,
    )
    .pinning(Pin {
        model: model.name.clone(),
        field: Some(new_name.to_string()),
        keyword: "db_table".to_string(),
        value: format!("{old_join:?}"),
    });
    out.push(
        Diagnostic::at_operation(
            ctx.op(),
            format!(
                "RenameField of many-to-many field `{}.{}.{old_name}` renames its join table {} to {} while \
                 the old release still queries {}",
                model.app,
                model.name,
                ctx.quote(&old_join),
                ctx.quote(&new_join),
                ctx.quote(&old_join)
            ),
        )
        .help(format!(
            "keep the join table and rename only the attribute: pin it first, in the same migration:\n{}\n\
             (in models.py, keep db_table={old_join:?} on `{new_name}`)",
            fix.describe()
        ))
        .with_fix(fix),
    );
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

    const WITH_TAGS: &str = r#"        migrations.CreateModel(name="Tag", fields=[("id", models.AutoField(primary_key=True))]),
        migrations.AddField("book", "tags", models.ManyToManyField(to="shop.tag")),"#;

    /// Renaming a many-to-many field renames its join table; renaming the owner's table
    /// renames the join tables too.
    #[test]
    fn err_many_to_many_join_tables() {
        let mut files = with_initial(migration("0002_tags", "0001_initial", WITH_TAGS));
        files.push(migration(
            "0003_rename_tags",
            "0002_tags",
            r#"        migrations.RenameField("book", "tags", "labels"),"#,
        ));
        let found = findings(&files, RULE);
        assert_eq!(found.len(), 1, "{found:#?}");
        insta::assert_snapshot!(render(&files, RULE));

        let mut files = with_initial(migration("0002_tags", "0001_initial", WITH_TAGS));
        files.push(migration(
            "0003_table",
            "0002_tags",
            r#"        migrations.AlterModelTable("book", "catalog_book"),"#,
        ));
        let found = findings(&files, RULE);
        assert_eq!(found.len(), 1);
        assert!(
            found[0]
                .message
                .contains("join tables of its many-to-many fields (\"shop_book_tags\")"),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn ok_pinned_join_table() {
        let mut files = with_initial(migration("0002_tags", "0001_initial", WITH_TAGS));
        files.push(migration(
            "0003_rename_tags",
            "0002_tags",
            r#"        migrations.AlterField("book", "tags", models.ManyToManyField(to="shop.tag", db_table="shop_book_tags")),
        migrations.RenameField("book", "tags", "labels"),"#,
        ));
        assert!(findings(&files, RULE).is_empty());
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
