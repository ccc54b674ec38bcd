//! `drop-table`: a `DeleteModel` that drops a table the old release still uses.

use crate::django::operations::OpKind;
use crate::lint::rule::{
    Axis, Diagnostic, ModelLookup, OpContext, Rule, RuleMeta, Severity, SqlContext,
};
use crate::lint::sql::SqlAction;

pub struct DropTable;

static META: RuleMeta = RuleMeta {
    name: "drop-table",
    severity: Severity::Error,
    axis: Axis::Compatibility,
    summary: "DeleteModel drops a table that the old release still queries",
    doc: r#"## What it catches
A `DeleteModel` that changes the database: the model's table is dropped.

## Why it is unsafe
The old release keeps serving traffic after the migration ran, and it still has the
model: every query on it (including the joins and cascades of related models, and the
admin) fails with `relation "..." does not exist` until the rollout ends.

## Does not fire when
- the model was already removed from the state by an earlier migration (the second half
  of a two-release drop);
- the model was created in the same migration, or Django manages no table for it.

## Safe alternative
Release 1 — remove the model from Django's state only (the table stays):

```python
operations = [
    migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel("Coupon")]),
]
```

Release 2 — once no old code runs, drop the table:

```python
operations = [
    migrations.RunSQL('DROP TABLE "shop_coupon";', reverse_sql=migrations.RunSQL.noop),
]
```
"#,
    preflight: None,
    engines: crate::lint::rule::Engines::All,
};

impl Rule for DropTable {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check_sql(&self, ctx: &SqlContext<'_, '_>, action: &SqlAction, out: &mut Vec<Diagnostic>) {
        let SqlAction::DropTable { tables } = action else {
            return;
        };
        if ctx.op.accepted_post() {
            return;
        }
        for table in tables {
            // A table no model of the state has: the database half of a two-release drop.
            if ctx.is_new_table(table) {
                continue;
            }
            let Some(model) = ctx.model_for_table(table) else {
                if let Some((owner, field)) = ctx.join_table_owner(table) {
                    out.push(
                        ctx.diagnostic(format!(
                            "RunSQL drops table {}, the join table of many-to-many field `{}.{}.{field}` the old \
                             release still queries",
                            ctx.quote(table),
                            owner.app,
                            owner.name
                        ))
                        .help(format!(
                            "release 1: remove the field from the state only; release 2: drop the table; {PHASES}"
                        )),
                    );
                }
                continue;
            };
            out.push(
                ctx.diagnostic(format!(
                    "RunSQL drops table {} while the old release still queries `{}.{}`",
                    ctx.quote(table),
                    model.app,
                    model.name
                ))
                .help(format!(
                    "release 1: remove the model from the state only \
                     (`SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(\"{}\")])`); release 2: \
                     drop the table; {PHASES}",
                    model.name
                )),
            );
        }
    }

    fn check_operation(&self, ctx: &OpContext<'_>, out: &mut Vec<Diagnostic>) {
        let op = ctx.op();
        let OpKind::DeleteModel { name } = &op.kind else {
            return;
        };
        if !ctx.touches_database() || ctx.table_is_exempt(name) || ctx.accepted_post() {
            return;
        }
        let mut unknown = "";
        let table = match ctx.model(name) {
            ModelLookup::Known(m) => match m.table() {
                Some(t) => ctx.quote(&t),
                None => format!("the table of `{}`", ctx.model_label(name)),
            },
            // Not in the state after an operation migrail cannot read: never silent.
            ModelLookup::Unknown if !ctx.visit.state.app_is_complete(ctx.app()) => {
                unknown = " (migrail lost track of this app's models after an operation it \
                           cannot read: the table name is Django's default)";
                ctx.quote(&ctx.table_name(name))
            }
            // Not in the state: removed by an earlier migration, so this is the database
            // half of a two-release drop.
            ModelLookup::Unknown => return,
        };
        let label = ctx.model_label(name);
        out.push(
            Diagnostic::at_operation(
                op,
                format!(
                    "DeleteModel drops table {table} while the old release still queries `{label}`: its queries, \
                     joins and cascades fail until the rollout ends{unknown}"
                ),
            )
            .help(format!(
                "release 1: remove the model from the state only:\n    \
                 migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(\"{name}\")]),\n\
                 release 2, once no old code runs:\n    \
                 migrations.RunSQL('DROP TABLE {table};', reverse_sql=migrations.RunSQL.noop),\n\
                 {PHASES}"
            )),
        );
    }
}

/// The second way out, besides two releases.
const PHASES: &str = "or deploy in phases: run this migration after the rollout (`migrail run --phase post`, with \
                      `deploy-phases = true` in the configuration or `safe = Safe.after_deploy()` on the migration)";

#[cfg(test)]
mod tests {
    use crate::lint::testing::{findings, migration, render, with_initial};

    const RULE: &str = "drop-table";

    #[test]
    fn err_delete_model() {
        let files = with_initial(migration(
            "0002_delete_book",
            "0001_initial",
            r#"        migrations.DeleteModel(name="Book"),"#,
        ));
        assert_eq!(findings(&files, RULE).len(), 1);
        insta::assert_snapshot!(render(&files, RULE));
    }

    #[test]
    fn a_drop_after_an_operation_migrail_cannot_read_is_reported() {
        let mut files = with_initial(migration(
            "0002_custom",
            "0001_initial",
            r#"        shop.operations.CreateGadgets(),"#,
        ));
        files[1].1 = files[1].1.replace(
            "from django.db import migrations, models",
            "from django.db import migrations, models\nimport shop.operations",
        );
        files.push(migration(
            "0003_drop_gadget",
            "0002_custom",
            r#"        migrations.DeleteModel(name="Gadget"),"#,
        ));
        let text = render(&files, RULE);
        assert_eq!(findings(&files, RULE).len(), 1, "{text}");
        assert!(
            text.contains("\"shop_gadget\"") && text.contains("lost track"),
            "{text}"
        );
    }

    #[test]
    fn ok_two_release_recipe() {
        let mut files = with_initial(migration(
            "0002_forget_book",
            "0001_initial",
            r#"        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel("Book")]),"#,
        ));
        assert!(findings(&files, RULE).is_empty());
        files.push(migration(
            "0003_drop_book",
            "0002_forget_book",
            r#"        migrations.RunSQL('DROP TABLE "shop_book";', reverse_sql=migrations.RunSQL.noop),"#,
        ));
        assert!(findings(&files, RULE).is_empty());
    }

    #[test]
    fn ok_model_created_in_same_migration() {
        let files = with_initial(migration(
            "0002_tmp",
            "0001_initial",
            r#"        migrations.CreateModel(name="Tmp", fields=[("id", models.AutoField(primary_key=True))]),
        migrations.DeleteModel("Tmp"),"#,
        ));
        assert!(findings(&files, RULE).is_empty());
    }
}
