//! `runpython-irreversible`: a `RunPython` without `reverse_code`.

use crate::django::operations::OpKind;
use crate::lint::rule::{Axis, Diagnostic, OpContext, Rule, RuleMeta, Severity};

pub struct RunpythonIrreversible;

static META: RuleMeta = RuleMeta {
    name: "runpython-irreversible",
    severity: Severity::Warning,
    axis: Axis::Input,
    summary: "RunPython has no reverse_code, so the migration cannot be unapplied",
    doc: r#"## What it catches
A `RunPython` without `reverse_code`.

## Why it is unsafe
`manage.py migrate <app> <earlier>` raises `IrreversibleError` on it: a bad release
cannot be rolled back past this migration.

## Safe alternative
Give a function that undoes it, or `migrations.RunPython.noop` when there is nothing to
undo (a backfill of a column that the reverse migration drops anyway):

```python
migrations.RunPython(backfill_slugs, reverse_code=migrations.RunPython.noop)
```
"#,
    preflight: None,
    engines: crate::lint::rule::Engines::All,
};

impl Rule for RunpythonIrreversible {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check_operation(&self, ctx: &OpContext<'_>, out: &mut Vec<Diagnostic>) {
        let op = ctx.op();
        if let OpKind::RunPython {
            reverse_code: None, ..
        } = &op.kind
        {
            out.push(
                Diagnostic::at_operation(
                    op,
                    "RunPython has no reverse_code: unapplying this migration raises IrreversibleError",
                )
                .help("pass `reverse_code=` with a function that undoes it, or `reverse_code=migrations.RunPython.noop`"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::{findings, migration, render, with_initial};

    const RULE: &str = "runpython-irreversible";

    #[test]
    fn err_no_reverse() {
        let files = with_initial(migration(
            "0002_data",
            "0001_initial",
            r#"        migrations.RunPython(forwards),"#,
        ));
        assert_eq!(findings(&files, RULE).len(), 1);
        insta::assert_snapshot!(render(&files, RULE));
    }

    #[test]
    fn ok_reverse_or_noop() {
        let files = with_initial(migration(
            "0002_data",
            "0001_initial",
            r#"        migrations.RunPython(forwards, migrations.RunPython.noop),
        migrations.RunPython(forwards, reverse_code=backwards),"#,
        ));
        assert!(findings(&files, RULE).is_empty());
    }
}
