//! `rename-column`: a `RenameField` or `AlterField` that renames a column in place.

use crate::django::operations::{OpKind, Operation};
use crate::fix::{Fix, Pin};
use crate::lint::rule::{
    Axis, Diagnostic, ModelLookup, OpContext, Rule, RuleMeta, Severity, SqlContext,
};
use crate::lint::sql::SqlAction;

use super::{field_code, lower};

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
out of a relation). An `AlterField` pointing a many-to-many field `to=` another model
renames its join table's `<target>_id` column. Renames chained in one migration
(`title` -> `name` -> `label`) are one finding, about the column the old release has.

## Why it is unsafe
The old release names the old column in every query on the model: right after the
migration its SELECTs and INSERTs fail with `column "..." does not exist`. The new code,
rolled back, has the same problem the other way round.

## Does not fire when
- the field pins `db_column` to the old column name (Django then renames nothing in the
  database);
- the model was created in the same migration, or Django manages no table for it;
- the field was added earlier in the same migration (the old release never saw it).

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
    preflight: None,
    engines: crate::lint::rule::Engines::All,
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
                ctx.quote(old),
                ctx.quote(table),
                ctx.quote(new),
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
            } => {
                // A link of a chain (`a` -> `b` -> `c`) in one migration: reported once, at
                // the first rename, about the column the old release has.
                if renamed_earlier_to(ctx, model_name, old_name) {
                    return;
                }
                (model_name, old_name, new_name, None)
            }
            OpKind::AlterField {
                model_name,
                name,
                field,
            } => (model_name, name, name, Some(field)),
            _ => return,
        };
        if ctx.table_is_exempt(model_name) || ctx.field_added_here(model_name, old_name) {
            return;
        }
        let old_field = match ctx.model(model_name) {
            ModelLookup::Known(m) => m.field(old_name),
            ModelLookup::Unknown => None,
        };
        if let (Some(old), Some(new)) = (old_field, new_field) {
            if old.is_m2m() && new.is_m2m() {
                m2m_retarget(ctx, model_name, old_name, old, new, out);
                return;
            }
        }
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
        let final_name = match new_field {
            None => chain_end(ctx, model_name, new_name),
            Some(_) => new_name.clone(),
        };
        let new_name = &final_name;
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
        let mut fix = None;
        let help = match &op.kind {
            OpKind::RenameField {
                new_name: renamed_to,
                ..
            } => {
                let f = Fix::replace(
                    vec![
                        format!("migrations.AlterField(\"{m}\", \"{old_name}\", {pinned})"),
                        format!("migrations.RenameField(\"{m}\", \"{old_name}\", \"{renamed_to}\")"),
                    ],
                    true,
                );
                let text = format!(
                    "keep the column and rename only the attribute: pin it first, in the same migration:\n{}\n\
                     (in models.py, keep db_column={old_column:?} on `{new_name}`)",
                    f.describe()
                );
                let model = match ctx.model(model_name) {
                    ModelLookup::Known(state) => state.name.clone(),
                    ModelLookup::Unknown => model_name.clone(),
                };
                fix = Some(f.pinning(Pin {
                    model,
                    field: Some(new_name.clone()),
                    keyword: "db_column".to_string(),
                    value: format!("{old_column:?}"),
                }));
                text
            }
            _ => format!(
                "keep db_column={old_column:?} on the field; to really move the data, add the new column, write both, \
                 backfill, switch reads, and drop {} in a later release",
                ctx.quote(&old_column)
            ),
        };
        let message = if ctx.accepted_post() {
            format!(
                "{} renames column {} of {} to {} after the rollout: until it runs, the new release, which \
                 reads and writes {}, fails on every query on the model",
                op.name(),
                ctx.quote(&old_column),
                ctx.quote(&table),
                ctx.quote(&new_column),
                ctx.quote(&new_column)
            )
        } else {
            format!(
                "{} renames column {} of {} to {} while the old release still reads and writes {}",
                op.name(),
                ctx.quote(&old_column),
                ctx.quote(&table),
                ctx.quote(&new_column),
                ctx.quote(&old_column)
            )
        };
        let diagnostic = Diagnostic::at_operation(op, message).help(help);
        out.push(match fix {
            Some(fix) => diagnostic.with_fix(fix),
            None => diagnostic,
        });
    }
}

/// `AlterField` of a many-to-many field pointing `to=` another model renames the join
/// table's `<target>_id` column.
fn m2m_retarget(
    ctx: &OpContext<'_>,
    model_name: &str,
    name: &str,
    old: &crate::django::fields::FieldDef,
    new: &crate::django::fields::FieldDef,
    out: &mut Vec<Diagnostic>,
) {
    use crate::django::state::{model_key, ProjectState};
    let app = ctx.app();
    let target = |f: &crate::django::fields::FieldDef| {
        f.target()
            .and_then(|t| ProjectState::resolve_target(&t.value, app, ctx.settings))
    };
    let (Some(from), Some(to)) = (target(old), target(new)) else {
        return;
    };
    let own = model_key(app, model_name);
    // Self-referential join tables name their columns `from_`/`to_`: not this case.
    if from == to || from == own || to == own {
        return;
    }
    if old.call.kwarg("through").is_some() || new.call.kwarg("through").is_some() {
        return;
    }
    let ModelLookup::Known(model) = ctx.model(model_name) else {
        return;
    };
    let Some(table) = model.table() else {
        return;
    };
    let Some(join) = old.join_table(&table, name) else {
        return;
    };
    let (old_column, new_column) = (format!("{}_id", from.1), format!("{}_id", to.1));
    out.push(
        Diagnostic::at_operation(
            ctx.op(),
            format!(
                "AlterField points many-to-many field `{}.{}.{name}` to another model: Django renames column {} \
                 of its join table {} to {} while the old release still reads and writes {}",
                model.app,
                model.name,
                ctx.quote(&old_column),
                ctx.quote(&join),
                ctx.quote(&new_column),
                ctx.quote(&old_column)
            ),
        )
        .help(
            "add a new many-to-many field to the new model, write both, copy the rows, switch reads, then \
             remove the old field in a later release",
        ),
    );
}

/// `RenameField`s of `model` in the operation's migration, in order.
fn renames<'a>(ctx: &OpContext<'a>, model: &str) -> Vec<(&'a Operation, &'a str, &'a str)> {
    ctx.migration()
        .operations
        .iter()
        .filter_map(|op| match &op.kind {
            OpKind::RenameField {
                model_name,
                old_name,
                new_name,
            } if model_name.eq_ignore_ascii_case(model) => {
                Some((op, old_name.as_str(), new_name.as_str()))
            }
            _ => None,
        })
        .collect()
}

/// An earlier `RenameField` of the same migration gave the field the name `name`.
fn renamed_earlier_to(ctx: &OpContext<'_>, model: &str, name: &str) -> bool {
    let here = ctx.op().range().start();
    renames(ctx, model)
        .iter()
        .any(|(op, _, new)| op.range().start() < here && *new == name)
}

/// The name a chain of later renames in the same migration ends at (`b` -> `c` -> ...).
fn chain_end(ctx: &OpContext<'_>, model: &str, name: &str) -> String {
    let here = ctx.op().range().start();
    let mut current = name.to_string();
    for (op, old, new) in renames(ctx, model) {
        if op.range().start() > here && old == current {
            current = new.to_string();
        }
    }
    current
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

    /// Re-pointing a many-to-many field renames its join table's `<target>_id` column.
    #[test]
    fn err_many_to_many_retargeted() {
        let mut files = with_initial(migration(
            "0002_tags",
            "0001_initial",
            r#"        migrations.CreateModel(name="Tag", fields=[("id", models.AutoField(primary_key=True))]),
        migrations.CreateModel(name="Label", fields=[("id", models.AutoField(primary_key=True))]),
        migrations.AddField("book", "tags", models.ManyToManyField(to="shop.tag")),"#,
        ));
        files.push(migration(
            "0003_retarget",
            "0002_tags",
            r#"        migrations.AlterField("book", "tags", models.ManyToManyField(to="shop.label")),"#,
        ));
        let found = findings(&files, RULE);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0]
                .message
                .contains("column \"tag_id\" of its join table \"shop_book_tags\" to \"label_id\""),
            "{}",
            found[0].message
        );
    }

    /// `title` -> `name` -> `label` in one migration: one finding, about `title`.
    #[test]
    fn err_chained_renames_are_one_finding_about_the_old_column() {
        let files = with_initial(migration(
            "0002_rename",
            "0001_initial",
            r#"        migrations.RenameField("book", "title", "name"),
        migrations.RenameField("book", "name", "label"),"#,
        ));
        let found = findings(&files, RULE);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0]
                .message
                .contains("\"title\" of \"shop_book\" to \"label\""),
            "{}",
            found[0].message
        );
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
