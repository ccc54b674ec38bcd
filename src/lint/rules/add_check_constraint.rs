//! `add-check-constraint`: a CHECK constraint added to an existing table and validated at
//! once, scanning the table under an ACCESS EXCLUSIVE lock.

use crate::django::operations::OpKind;
use crate::fix::Fix;
use crate::lint::rule::{Axis, Diagnostic, OpContext, Rule, RuleMeta, Severity, SqlContext};
use crate::lint::sql::{ConstraintKind, SqlAction};

use super::{ident, lower};

pub struct AddCheckConstraint;

static META: RuleMeta = RuleMeta {
    name: "add-check-constraint",
    severity: Severity::Warning,
    axis: Axis::CompatibilityAndLocking,
    summary:
        "A CHECK constraint is added to an existing table and validated while the table is locked",
    doc: r#"## What it catches
`AddConstraint` of a `CheckConstraint` on a table that already exists, and in `RunSQL`,
`ADD CONSTRAINT ... CHECK` without `NOT VALID`.

## Why it is unsafe
- Locking: `ALTER TABLE ... ADD CONSTRAINT ... CHECK` holds an ACCESS EXCLUSIVE lock
  while it checks every row: no reads, no writes for the whole scan.
- Compatibility: the migration fails if a row violates it, and the old release's writes
  that violate it start failing.

## Does not fire when
- the table is created in the same migration, or Django manages no table for it;
- `AddConstraintNotValid` (from `django.contrib.postgres.operations`) or `NOT VALID` SQL.

## Safe alternative
Add it `NOT VALID` (instant; new rows are checked), then validate it in a later migration
(`VALIDATE CONSTRAINT` lets reads and writes through):

```python
from django.contrib.postgres.operations import AddConstraintNotValid, ValidateConstraint

operations = [AddConstraintNotValid("book", models.CheckConstraint(condition=models.Q(pages__gte=0), name="pages_gte_0"))]
# next migration:
operations = [ValidateConstraint("book", "pages_gte_0")]
```
"#,
    preflight: Some("rows that break the CHECK"),
    engines: crate::lint::rule::Engines::Postgresql,
};

impl Rule for AddCheckConstraint {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check_operation(&self, ctx: &OpContext<'_>, out: &mut Vec<Diagnostic>) {
        let op = ctx.op();
        let OpKind::AddConstraint {
            model_name,
            constraint,
            not_valid: false,
        } = &op.kind
        else {
            return;
        };
        if constraint.class != "CheckConstraint"
            || !ctx.touches_database()
            || ctx.table_is_exempt(model_name)
        {
            return;
        }
        let table = ident(&ctx.table_name(model_name));
        let Some(name) = constraint.name.as_deref() else {
            return;
        };
        let m = lower(model_name);
        let constraint_code = op
            .call
            .arg(Some(1), "constraint")
            .map(|v| ctx.source_text(v.range))
            .unwrap_or_default();
        let fix = Fix::replace(
            vec![format!("AddConstraintNotValid(\"{m}\", {constraint_code})")],
            true,
        )
        .then(
            vec![format!("ValidateConstraint(\"{m}\", \"{name}\")")],
            true,
        );
        out.push(
            Diagnostic::at_operation(
                op,
                format!(
                    "AddConstraint checks every row of {table} while holding an ACCESS EXCLUSIVE lock: no reads \
                     or writes until the scan ends, and the migration fails on a violating row"
                ),
            )
            .help(format!(
                "add it NOT VALID, and validate it in a later migration (both operations are in \
                 django.contrib.postgres.operations):\n{}",
                fix.describe()
            ))
            .with_fix(fix),
        );
    }

    fn check_sql(&self, ctx: &SqlContext<'_, '_>, action: &SqlAction, out: &mut Vec<Diagnostic>) {
        let SqlAction::AddConstraint {
            table,
            kind: ConstraintKind::Check { .. },
            not_valid: false,
            ..
        } = action
        else {
            return;
        };
        if ctx.is_new_table(table) {
            return;
        }
        out.push(
            ctx.diagnostic(format!(
                "the CHECK constraint on {} is validated under an ACCESS EXCLUSIVE lock",
                ident(table)
            ))
            .help("add it with `NOT VALID`, then `VALIDATE CONSTRAINT` in a later migration"),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::{findings, migration, render, with_initial};

    const RULE: &str = "add-check-constraint";

    #[test]
    fn err_add_check_constraint() {
        let files = with_initial(migration(
            "0002_check",
            "0001_initial",
            r#"        migrations.AddConstraint("book", models.CheckConstraint(condition=models.Q(pages__gte=0), name="pages_gte_0")),
        migrations.RunSQL("ALTER TABLE shop_book ADD CONSTRAINT c CHECK (pages >= 0)", migrations.RunSQL.noop),"#,
        ));
        assert_eq!(findings(&files, RULE).len(), 2);
        insta::assert_snapshot!(render(&files, RULE));
    }

    #[test]
    fn ok_not_valid() {
        let files: Vec<_> = with_initial(migration(
            "0002_check",
            "0001_initial",
            r#"        AddConstraintNotValid("book", models.CheckConstraint(condition=models.Q(pages__gte=0), name="pages_gte_0")),
        ValidateConstraint("book", "pages_gte_0"),
        migrations.RunSQL("ALTER TABLE shop_book ADD CONSTRAINT c CHECK (pages >= 0) NOT VALID", migrations.RunSQL.noop),"#,
        ))
        .into_iter()
        .map(|(p, t)| {
            (
                p,
                t.replace(
                    "import django.db.models.deletion",
                    "from django.contrib.postgres.operations import AddConstraintNotValid, ValidateConstraint",
                ),
            )
        })
        .collect();
        assert!(findings(&files, RULE).is_empty());
    }
}
