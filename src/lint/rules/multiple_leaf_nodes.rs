//! `multiple-leaf-nodes`: two migrations of one app that nothing depends on.

use crate::django::graph::GraphIssue;
use crate::lint::rule::{Axis, Diagnostic, MigrationContext, Rule, RuleMeta, Severity};

pub struct MultipleLeafNodes;

static META: RuleMeta = RuleMeta {
    name: "multiple-leaf-nodes",
    severity: Severity::Error,
    axis: Axis::Graph,
    summary: "An app has more than one leaf migration: Django refuses to migrate",
    doc: r#"## What it catches
Two or more migrations of the same app that no other migration of that app depends on
(typically two branches that each added a migration).

## Why it is unsafe
`manage.py migrate` stops with "Conflicting migrations detected" and applies nothing: the
deploy fails at the migration step.

## Safe alternative
Create a merge migration, or renumber one branch's migration to depend on the other:

```shell
python manage.py makemigrations --merge
```
"#,
    preflight: None,
    engines: crate::lint::rule::Engines::All,
};

impl Rule for MultipleLeafNodes {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check_migration(&self, ctx: &MigrationContext<'_>, out: &mut Vec<Diagnostic>) {
        let m = ctx.migration;
        let key = m.key();
        for issue in ctx.graph.issues_of(&key) {
            let GraphIssue::MultipleLeaves { app, leaves } = issue else {
                continue;
            };
            if *app != m.app || !leaves.contains(&m.name) {
                continue;
            }
            let others: Vec<String> = leaves
                .iter()
                .filter(|l| **l != m.name)
                .map(|l| format!("`{l}`"))
                .collect();
            out.push(
                Diagnostic::new(
                    m.class_range,
                    format!(
                        "`{}` is one of {} leaf migrations of app `{app}` (also {}): Django refuses to migrate \
                         until they are merged",
                        m.name,
                        leaves.len(),
                        others.join(", ")
                    ),
                )
                .help(format!("run `python manage.py makemigrations --merge {app}`, or make one depend on the other")),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::{findings, migration, render, with_initial};

    const RULE: &str = "multiple-leaf-nodes";

    #[test]
    fn err_two_leaves() {
        let mut files = with_initial(migration("0002_a", "0001_initial", ""));
        files.push(migration("0002_b", "0001_initial", ""));
        assert_eq!(findings(&files, RULE).len(), 1);
        insta::assert_snapshot!(render(&files, RULE));
    }

    #[test]
    fn ok_merge_migration() {
        let mut files = with_initial(migration("0002_a", "0001_initial", ""));
        files.push(migration("0002_b", "0001_initial", ""));
        let (path, text) = migration("0003_merge", "0002_a", "");
        files.push((
            path,
            text.replace(
                r#"[("shop", "0002_a")]"#,
                r#"[("shop", "0002_a"), ("shop", "0002_b")]"#,
            ),
        ));
        assert!(findings(&files, RULE).is_empty());
    }
}
