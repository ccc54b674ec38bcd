//! `duplicate-app-label`: two app folders that resolve to the same app label.

use crate::lint::rule::{Axis, Diagnostic, MigrationContext, Rule, RuleMeta, Severity};

pub struct DuplicateAppLabel;

static META: RuleMeta = RuleMeta {
    name: "duplicate-app-label",
    severity: Severity::Error,
    axis: Axis::Input,
    summary: "Two scanned apps have the same label; the second one's migrations are not linted",
    doc: r#"## What it catches
Two folders holding `migrations/` whose app label (the folder name, or `label` in
`apps.py`) is the same (a migrail addition to the catalog).

## Why it is unsafe
Django refuses to start with both installed ("Application labels aren't unique"). If
only one is installed, migrail cannot tell which: it keeps the first folder (sorted) and
reports the other, whose migrations are then not linted.

## Safe alternative
Set a distinct `label` on one app's AppConfig, or point migrail at the project that
really installs them (`migrail lint path/to/project`).
"#,
    preflight: None,
    engines: crate::lint::rule::Engines::All,
};

impl Rule for DuplicateAppLabel {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check_migration(&self, ctx: &MigrationContext<'_>, out: &mut Vec<Diagnostic>) {
        let m = ctx.migration;
        for dup in ctx.duplicate_labels.iter().filter(|d| d.app == m.app) {
            // Report on the app's first migration only.
            let first = m.name.starts_with("0001");
            if !first {
                continue;
            }
            let dirs: Vec<String> = dup
                .dirs
                .iter()
                .map(|d| crate::lint::display_path(d))
                .collect();
            out.push(Diagnostic::new(
                m.class_range,
                format!(
                    "app label `{}` is used by {}; only the first is linted",
                    dup.app,
                    dirs.join(" and ")
                ),
            ));
        }
    }
}
