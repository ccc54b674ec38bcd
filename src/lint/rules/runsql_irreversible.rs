//! `runsql-irreversible`: a `RunSQL` without `reverse_sql`.

use crate::django::operations::OpKind;
use crate::lint::rule::{Axis, Diagnostic, OpContext, Rule, RuleMeta, Severity};

pub struct RunsqlIrreversible;

static META: RuleMeta = RuleMeta {
    name: "runsql-irreversible",
    severity: Severity::Warning,
    axis: Axis::Input,
    summary: "RunSQL has no reverse_sql, so the migration cannot be unapplied",
    doc: r#"## What it catches
A `RunSQL` without `reverse_sql`.

## Why it is unsafe
`manage.py migrate <app> <earlier>` raises `IrreversibleError` on it: a bad release
cannot be rolled back past this migration, and neither can a test database or a
developer's branch switch.

## Safe alternative
Give the SQL that undoes it, or `migrations.RunSQL.noop` when there is nothing to undo:

```python
migrations.RunSQL(
    'CREATE INDEX CONCURRENTLY "shop_book_title_idx" ON "shop_book" ("title");',
    reverse_sql='DROP INDEX CONCURRENTLY "shop_book_title_idx";',
)
```
"#,
    preflight: None,
    engines: crate::lint::rule::Engines::All,
};

impl Rule for RunsqlIrreversible {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check_operation(&self, ctx: &OpContext<'_>, out: &mut Vec<Diagnostic>) {
        let op = ctx.op();
        if let OpKind::RunSQL {
            reverse_sql: None, ..
        } = &op.kind
        {
            if ctx.touches_database() {
                out.push(
                    Diagnostic::at_operation(
                        op,
                        "RunSQL has no reverse_sql: unapplying this migration raises IrreversibleError",
                    )
                    .help("pass `reverse_sql=` with the SQL that undoes it, or `reverse_sql=migrations.RunSQL.noop`"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::{findings, migration, render, with_initial};

    const RULE: &str = "runsql-irreversible";

    #[test]
    fn err_no_reverse() {
        let files = with_initial(migration(
            "0002_sql",
            "0001_initial",
            r#"        migrations.RunSQL("UPDATE shop_book SET pages = 0"),"#,
        ));
        assert_eq!(findings(&files, RULE).len(), 1);
        insta::assert_snapshot!(render(&files, RULE));
    }

    #[test]
    fn ok_reverse_or_noop() {
        let files = with_initial(migration(
            "0002_sql",
            "0001_initial",
            r#"        migrations.RunSQL("UPDATE shop_book SET pages = 0", migrations.RunSQL.noop),
        migrations.RunSQL("SELECT 1", reverse_sql="SELECT 2"),"#,
        ));
        assert!(findings(&files, RULE).is_empty());
    }
}
