//! `rename-as-remove-add`: a field renamed by removing it and adding a new one, which
//! drops the column and its data.

use crate::django::fields::FieldDef;
use crate::django::operations::{OpKind, Operation};
use crate::fix::{Fix, Pin};
use crate::lint::rule::{Axis, Diagnostic, ModelLookup, OpContext, Rule, RuleMeta, Severity};

use super::{field_code, lower};

pub struct RenameAsRemoveAdd;

static META: RuleMeta = RuleMeta {
    name: "rename-as-remove-add",
    severity: Severity::Error,
    axis: Axis::Compatibility,
    summary: "RemoveField and AddField of the same model and field definition: a rename that loses the data",
    doc: r#"## What it catches
A `RemoveField` of a model followed, in the same migration, by an `AddField` of the same
model with another name and the same field class and arguments (`default` and
`preserve_default` aside). That is how `makemigrations` writes a rename it was not told
about (it asks "Did you rename ...?" and a "no" answer gives this), or how a rename
written by hand ends up.

## Why it is unsafe
The data is lost: the old column is dropped with every value in it, and the new one
starts empty (or filled with the default). The old release still selects the old column,
so its queries fail too, until the rollout ends.

## Does not fire when
- the field definitions differ (another class or other arguments): that is a real
  replacement, and `drop-column` judges the removal;
- the model is created in the same migration, or Django manages no table for it.

`drop-column` does not report the `RemoveField` this rule reports.

## Safe alternative
Keep the column and its data, rename only the attribute (the column name stays pinned):

```python
operations = [
    migrations.AlterField("book", "title", models.CharField(max_length=200, db_column="title")),
    migrations.RenameField("book", "title", "name"),
]
```

and keep `db_column="title"` on the renamed field in `models.py`.
"#,
    preflight: None,
    engines: crate::lint::rule::Engines::All,
};

/// The `AddField` of the same migration that re-adds `removed` (of `model`) under
/// another name: the first one after `op` with the same definition.
pub fn matching_add<'a>(
    ctx: &OpContext<'a>,
    model: &str,
    removed_name: &str,
    removed: &FieldDef,
) -> Option<(&'a Operation, &'a str)> {
    let here = ctx.op().range().start();
    ctx.migration()
        .operations
        .iter()
        .find_map(|op| match &op.kind {
            OpKind::AddField {
                model_name,
                name,
                field,
            } if op.range().start() > here
                && model_name.eq_ignore_ascii_case(model)
                && name != removed_name
                && same_definition(removed, field) =>
            {
                Some((op, name.as_str()))
            }
            _ => None,
        })
}

/// The same field class and arguments, `default` and `preserve_default` aside.
fn same_definition(a: &FieldDef, b: &FieldDef) -> bool {
    super::same_field_except(a, b, &["default", "preserve_default"])
}

impl Rule for RenameAsRemoveAdd {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check_operation(&self, ctx: &OpContext<'_>, out: &mut Vec<Diagnostic>) {
        let op = ctx.op();
        let OpKind::RemoveField { model_name, name } = &op.kind else {
            return;
        };
        if !ctx.touches_database() || ctx.table_is_exempt(model_name) {
            return;
        }
        let ModelLookup::Known(model) = ctx.model(model_name) else {
            return;
        };
        let Some(field) = model.field(name) else {
            return;
        };
        if !field.has_column() && !field.is_m2m() {
            return;
        }
        let Some((add, new_name)) = matching_add(ctx, model_name, name, field) else {
            return;
        };
        let m = lower(model_name);
        let label = format!("{}.{}", model.app, model.name);
        let column = field.column(name).unwrap_or_else(|| name.clone());
        let (help, fix) = if field.is_m2m() {
            let fix = Fix::replace(
                vec![format!(
                    "migrations.RenameField(\"{m}\", \"{name}\", \"{new_name}\")"
                )],
                true,
            )
            .removing(add.range());
            (
                format!(
                    "rename it instead of removing and adding it (the join table is renamed with its rows; \
                     then pin its name as `rename-table` says), and delete the AddField:\n{}",
                    fix.describe()
                ),
                fix,
            )
        } else {
            let pinned = field_code(field, &[("db_column", &format!("{column:?}"))]);
            let fix = Fix::replace(
                vec![
                    format!("migrations.AlterField(\"{m}\", \"{name}\", {pinned})"),
                    format!("migrations.RenameField(\"{m}\", \"{name}\", \"{new_name}\")"),
                ],
                true,
            )
            .removing(add.range())
            .pinning(Pin {
                model: model.name.clone(),
                field: Some(new_name.to_string()),
                keyword: "db_column".to_string(),
                value: format!("{column:?}"),
            });
            (
                format!(
                    "replace the RemoveField and the AddField with a rename that keeps the column and its data:\n{}\n\
                     (in models.py, keep db_column={column:?} on `{new_name}`)",
                    fix.describe()
                ),
                fix,
            )
        };
        out.push(
            Diagnostic::at_operation(
                op,
                format!(
                    "`{label}.{name}` is removed and `{new_name}` added with the same definition: a rename \
                     written as RemoveField + AddField drops {what} and every value in it (the old release's \
                     queries fail too)",
                    what = if field.is_m2m() {
                        "the join table".to_string()
                    } else {
                        format!("column \"{column}\"")
                    }
                ),
            )
            .help(help)
            .with_fix(fix),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::{findings, migration, render, with_initial};

    const RULE: &str = "rename-as-remove-add";

    #[test]
    fn err_remove_then_add_with_the_same_definition() {
        let files = with_initial(migration(
            "0002_rename_isbn",
            "0001_initial",
            r#"        migrations.RemoveField(model_name="book", name="isbn"),
        migrations.AddField(model_name="book", name="code", field=models.CharField(max_length=13, default=""), preserve_default=False),"#,
        ));
        assert_eq!(findings(&files, RULE).len(), 1);
        insta::assert_snapshot!(render(&files, RULE));
        // `drop-column` leaves the RemoveField to this rule.
        assert!(findings(&files, "drop-column").is_empty());
    }

    #[test]
    fn ok_a_different_definition_is_a_replacement() {
        let files = with_initial(migration(
            "0002_replace_isbn",
            "0001_initial",
            r#"        migrations.RemoveField(model_name="book", name="isbn"),
        migrations.AddField(model_name="book", name="code", field=models.CharField(max_length=20, null=True)),"#,
        ));
        assert!(findings(&files, RULE).is_empty());
        assert_eq!(findings(&files, "drop-column").len(), 1);
    }

    #[test]
    fn ok_another_model_or_the_same_name() {
        let files = with_initial(migration(
            "0002_author",
            "0001_initial",
            r#"        migrations.CreateModel(name="Author", fields=[("id", models.AutoField(primary_key=True))]),
        migrations.RemoveField(model_name="book", name="isbn"),
        migrations.AddField(model_name="author", name="isbn", field=models.CharField(max_length=13)),"#,
        ));
        assert!(findings(&files, RULE).is_empty());
    }
}
