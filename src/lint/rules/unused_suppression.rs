//! `unused-suppression`: an inline suppression that suppresses nothing. The linter emits
//! it after applying the suppressions (see `lint::suppression`); this file holds its
//! metadata and documentation.

use crate::lint::rule::{Axis, Rule, RuleMeta, Severity};

pub struct UnusedSuppression;

static META: RuleMeta = RuleMeta {
    name: "unused-suppression",
    severity: Severity::Warning,
    axis: Axis::Input,
    summary:
        "An inline suppression that suppresses nothing, names an unknown rule, or cannot be read",
    doc: r#"## What it catches
A `# migrail: ignore[rule,...]` comment (on an operation's first line, or alone on the line
above it) or a `# migrail: ignore-file[rule,...]` comment, where a named rule reports
nothing there, the rule does not exist, or the comment is not in that form.

## Why it matters
A stale suppression hides the next real finding on that line; a misspelt one hides
nothing while the reviewer believes the finding was considered.

## Safe alternative
Delete the suppression, fix the rule name (`migrail rules` lists them), or move it onto
the operation's first line. Give the reason after `--`:

```python
migrations.RemoveField("book", "isbn"),  # migrail: ignore[drop-column] -- no reader left since 2026-10
```
"#,
    preflight: None,
    engines: crate::lint::rule::Engines::All,
};

impl Rule for UnusedSuppression {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
}
